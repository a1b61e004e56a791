import type { ErrorCode } from "../lib/errors.ts";

/**
 * Distinct exit codes so scripts can tell failures apart. `record` passes the traced command's
 * own status through instead, as strace does.
 */
export const ExitCodes = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  INVALID_INPUT: 3,
  ENVIRONMENT: 4,
  IO: 5,
} as const;

const BY_ERROR: Partial<Record<ErrorCode, number>> = {
  SC_USAGE: ExitCodes.USAGE,
  SC_ARGS_UNSUPPORTED: ExitCodes.USAGE,
  SC_ARCH_UNKNOWN: ExitCodes.USAGE,
  SC_CONFIG_INVALID: ExitCodes.INVALID_INPUT,
  SC_DOCUMENT_INVALID: ExitCodes.INVALID_INPUT,
  SC_MESSAGE_INVALID: ExitCodes.INVALID_INPUT,
  SC_MERGE_INPUT: ExitCodes.INVALID_INPUT,
  SC_RENDER_UNSUPPORTED: ExitCodes.INVALID_INPUT,
  SC_STRACE_MISSING: ExitCodes.ENVIRONMENT,
  SC_STRACE_FAILED: ExitCodes.ENVIRONMENT,
  SC_STRACE_PARSE: ExitCodes.ENVIRONMENT,
  SC_FILE_READ: ExitCodes.IO,
  SC_FILE_WRITE: ExitCodes.IO,
};

export function exitCodeFor(code: ErrorCode): number {
  return BY_ERROR[code] ?? ExitCodes.FAILURE;
}
