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
  /** A wait ran out: the session was not finalised, or a rollout did not finish, in time. */
  TIMEOUT: 6,
  /** Done, but without some agents or nodes: missing agents at start, a partial profile at stop. */
  PARTIAL: 7,
  /** NATS, the aggregator, the agents or the Kubernetes API could not be reached. */
  UNREACHABLE: 8,
  /** NATS or Kubernetes refused the credentials or the operation. */
  FORBIDDEN: 9,
  /** The session, profile or Kubernetes object does not exist. */
  NOT_FOUND: 10,
  /** It exists already, or someone else changed it: a session id in use, a field another manager owns. */
  CONFLICT: 11,
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
  SC_LOADER_MISSING: ExitCodes.ENVIRONMENT,
  SC_PROFILE_INVALID: ExitCodes.INVALID_INPUT,
  SC_STRACE_FAILED: ExitCodes.ENVIRONMENT,
  SC_STRACE_PARSE: ExitCodes.ENVIRONMENT,
  SC_FILE_READ: ExitCodes.IO,
  SC_FILE_WRITE: ExitCodes.IO,
  SC_FILE_UNSAFE: ExitCodes.IO,
  SC_K8S_CONFIG: ExitCodes.ENVIRONMENT,
  SC_WAIT_TIMEOUT: ExitCodes.TIMEOUT,
  SC_K8S_TIMEOUT: ExitCodes.TIMEOUT,
  SC_NATS_UNREACHABLE: ExitCodes.UNREACHABLE,
  SC_K8S_UNREACHABLE: ExitCodes.UNREACHABLE,
  SC_AGENTS_UNAVAILABLE: ExitCodes.UNREACHABLE,
  SC_AGGREGATOR_UNAVAILABLE: ExitCodes.UNREACHABLE,
  SC_NATS_PERMISSION: ExitCodes.FORBIDDEN,
  SC_K8S_FORBIDDEN: ExitCodes.FORBIDDEN,
  SC_SESSION_NOT_FOUND: ExitCodes.NOT_FOUND,
  SC_PROFILE_NOT_FOUND: ExitCodes.NOT_FOUND,
  SC_K8S_NOT_FOUND: ExitCodes.NOT_FOUND,
  SC_SESSION_EXISTS: ExitCodes.CONFLICT,
  SC_SESSION_ACTIVE: ExitCodes.CONFLICT,
  SC_K8S_CONFLICT: ExitCodes.CONFLICT,
  SC_PROFILE_NAME_COLLISION: ExitCodes.CONFLICT,
  SC_INSTALL_INCOMPLETE: ExitCodes.PARTIAL,
  SC_WORKLOAD_UNSUPPORTED: ExitCodes.USAGE,
  SC_WORKLOAD_IMMUTABLE: ExitCodes.USAGE,
  SC_PROFILE_IN_USE: ExitCodes.CONFLICT,
};

export function exitCodeFor(code: ErrorCode): number {
  return BY_ERROR[code] ?? ExitCodes.FAILURE;
}
