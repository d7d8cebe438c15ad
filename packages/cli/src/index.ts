/**
 * @packageDocumentation
 * mcft: demo, primary, secondary, status and bench commands for microcheckpoint.
 *
 * Nothing is exported yet: see the package README for what is coming.
 */
export {};
