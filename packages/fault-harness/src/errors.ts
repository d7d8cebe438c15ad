/** Every error code this package throws. */
export type FaultHarnessErrorCode =
  | 'MC_ERR_INVALID_OPTION'
  | 'MC_ERR_INVALID_ARGUMENT'
  | 'MC_ERR_LAB'
  | 'MC_ERR_HISTORY';

/** Base class: every error from this package has a stable `code` and keeps its `cause`. */
export class FaultHarnessError extends Error {
  readonly code: FaultHarnessErrorCode;
  constructor(code: FaultHarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option has the wrong type or is out of range. */
export class InvalidOptionError extends FaultHarnessError {
  constructor(option: string, message: string) {
    super('MC_ERR_INVALID_OPTION', `option ${option}: ${message}`);
  }
}

/** A function was called with an argument of the wrong type or out of range. */
export class InvalidArgumentError extends FaultHarnessError {
  constructor(message: string) {
    super('MC_ERR_INVALID_ARGUMENT', message);
  }
}

/** Setting up, faulting or tearing down the lab (namespaces, links, firewall rules) failed. */
export class LabError extends FaultHarnessError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MC_ERR_LAB', message, options);
  }
}

/** A history line that is not a recorded operation. */
export class HistoryFormatError extends FaultHarnessError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MC_ERR_HISTORY', message, options);
  }
}
