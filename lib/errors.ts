/**
 * The one registry of seccompose errors. Every error a user can see carries a stable `code`
 * (never reused once retired), a message that names the offending value, and `cause` when it
 * wraps another error. `docs/errors.md` documents every code; a test keeps the two in step.
 */
export const ErrorCodes = {
  SC_CONFIG_INVALID: "SC_CONFIG_INVALID",
  SC_MESSAGE_INVALID: "SC_MESSAGE_INVALID",
  SC_DOCUMENT_INVALID: "SC_DOCUMENT_INVALID",
  SC_ARCH_UNKNOWN: "SC_ARCH_UNKNOWN",
  SC_ARGS_UNSUPPORTED: "SC_ARGS_UNSUPPORTED",
  SC_STRACE_MISSING: "SC_STRACE_MISSING",
  SC_STRACE_FAILED: "SC_STRACE_FAILED",
  SC_STRACE_PARSE: "SC_STRACE_PARSE",
  SC_FILE_READ: "SC_FILE_READ",
  SC_FILE_WRITE: "SC_FILE_WRITE",
  SC_MERGE_INPUT: "SC_MERGE_INPUT",
  SC_USAGE: "SC_USAGE",
  SC_ALERT_MALFORMED: "SC_ALERT_MALFORMED",
  SC_RENDER_UNSUPPORTED: "SC_RENDER_UNSUPPORTED",
  SC_MESSAGE_TOO_LARGE: "SC_MESSAGE_TOO_LARGE",
  SC_NATS_UNREACHABLE: "SC_NATS_UNREACHABLE",
  SC_NATS_PERMISSION: "SC_NATS_PERMISSION",
  SC_JETSTREAM_REJECTED: "SC_JETSTREAM_REJECTED",
  SC_SPOOL_FULL: "SC_SPOOL_FULL",
  SC_CONTROL_FAILED: "SC_CONTROL_FAILED",
  SC_CHECKPOINT_INVALID: "SC_CHECKPOINT_INVALID",
  SC_CHECKPOINT_CONFLICT: "SC_CHECKPOINT_CONFLICT",
  SC_UPGRADE_REQUIRED: "SC_UPGRADE_REQUIRED",
  SC_INTERNAL: "SC_INTERNAL",
  SC_K8S_CONFIG: "SC_K8S_CONFIG",
  SC_K8S_UNREACHABLE: "SC_K8S_UNREACHABLE",
  SC_K8S_FORBIDDEN: "SC_K8S_FORBIDDEN",
  SC_K8S_NOT_FOUND: "SC_K8S_NOT_FOUND",
  SC_K8S_CONFLICT: "SC_K8S_CONFLICT",
  SC_K8S_REQUEST_FAILED: "SC_K8S_REQUEST_FAILED",
  SC_K8S_TIMEOUT: "SC_K8S_TIMEOUT",
  SC_SESSION_NOT_FOUND: "SC_SESSION_NOT_FOUND",
  SC_SESSION_EXISTS: "SC_SESSION_EXISTS",
  SC_SESSION_ACTIVE: "SC_SESSION_ACTIVE",
  SC_PROFILE_NOT_FOUND: "SC_PROFILE_NOT_FOUND",
  SC_AGENTS_UNAVAILABLE: "SC_AGENTS_UNAVAILABLE",
  SC_AGGREGATOR_UNAVAILABLE: "SC_AGGREGATOR_UNAVAILABLE",
  SC_WAIT_TIMEOUT: "SC_WAIT_TIMEOUT",
  SC_LOADER_MISSING: "SC_LOADER_MISSING",
  SC_PROFILE_INVALID: "SC_PROFILE_INVALID",
  SC_PROFILE_NAME_COLLISION: "SC_PROFILE_NAME_COLLISION",
  SC_FILE_UNSAFE: "SC_FILE_UNSAFE",
  SC_MESSAGE_REFUSED: "SC_MESSAGE_REFUSED",
  SC_SESSION_LIMIT: "SC_SESSION_LIMIT",
  SC_REPLY_FORGED: "SC_REPLY_FORGED",
  SC_INSTALL_INCOMPLETE: "SC_INSTALL_INCOMPLETE",
  SC_WORKLOAD_UNSUPPORTED: "SC_WORKLOAD_UNSUPPORTED",
  SC_WORKLOAD_IMMUTABLE: "SC_WORKLOAD_IMMUTABLE",
  SC_PROFILE_IN_USE: "SC_PROFILE_IN_USE",
  SC_NODE_IDENTITY: "SC_NODE_IDENTITY",
  SC_ENROLLMENT_FAILED: "SC_ENROLLMENT_FAILED",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface SeccomposeErrorOptions extends ErrorOptions {
  /** Structured detail for logs and `--output json`, e.g. the validator's findings. */
  details?: unknown;
}

export class SeccomposeError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options: SeccomposeErrorOptions = {}) {
    super(message, options);
    this.name = "SeccomposeError";
    this.code = code;
    if (options.details !== undefined) this.details = options.details;
  }
}

export function isSeccomposeError(err: unknown, code?: ErrorCode): err is SeccomposeError {
  return err instanceof SeccomposeError && (code === undefined || err.code === code);
}
