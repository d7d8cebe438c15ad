/**
 * @packageDocumentation
 * The secondary's copy of protected memory: staging + atomic commit, zero-page and XBZRLE delta codecs, LZ4/zstd, dedup, flash offload.
 *
 * Nothing is exported yet: see the package README for what is coming.
 */
export {};
