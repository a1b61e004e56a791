import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { SeccomposeError, type ErrorCode } from "../errors.ts";
import { schemaFiles } from "./schemas.ts";
import type {
  AgentConfig,
  AggregatorConfig,
  AggregatorStatus,
  AggregatorStatusRequest,
  CliConfig,
  ControlReply,
  ControlRequest,
  ConvergenceEvent,
  DeleteReply,
  DeleteRequest,
  DriftEvent,
  DriftReport,
  EventMessage,
  FreezeReply,
  FreezeRequest,
  InstalledProfileMark,
  ProfileDocument,
  ProfilePointer,
  SessionFile,
  SessionFinalisedEvent,
  SessionRecord,
} from "./types.ts";

// ajv-formats is CommonJS; under nodenext its callable default export sits on `.default`.
const addFormats = addFormatsModule.default;

const ajv = new Ajv2020({
  allErrors: false,
  strict: true,
  allowUnionTypes: true,
  discriminator: true,
  strictRequired: false,
});
addFormats(ajv, ["date-time"]);
for (const schema of Object.values(schemaFiles)) ajv.addSchema(schema);

function compile<T>(ref: string): ValidateFunction<T> {
  const validate = ajv.getSchema<T>(`https://seccompose.dev/schemas/${ref}`);
  if (!validate) throw new Error(`schema ${ref} is not registered`);
  return validate;
}

/** Validators are compiled once, at module load, and shared by every edge of the system. */
const validators = {
  sessionRecord: compile<SessionRecord>("session.schema.json"),
  eventMessage: compile<EventMessage>("event-message.schema.json"),
  controlRequest: compile<ControlRequest>("control.schema.json#/$defs/ControlRequest"),
  controlReply: compile<ControlReply>("control.schema.json#/$defs/ControlReply"),
  installedProfileMark: compile<InstalledProfileMark>("control.schema.json#/$defs/InstalledProfileMark"),
  profileDocument: compile<ProfileDocument>("profile-document.schema.json"),
  agentConfig: compile<AgentConfig>("agent-config.schema.json"),
  aggregatorConfig: compile<AggregatorConfig>("aggregator-config.schema.json"),
  aggregatorStatus: compile<AggregatorStatus>("aggregator-status.schema.json"),
  aggregatorStatusRequest: compile<AggregatorStatusRequest>(
    "aggregator-status.schema.json#/$defs/AggregatorStatusRequest",
  ),
  profilePointer: compile<ProfilePointer>("aggregator-status.schema.json#/$defs/ProfilePointer"),
  sessionFinalisedEvent: compile<SessionFinalisedEvent>(
    "aggregator-status.schema.json#/$defs/SessionFinalisedEvent",
  ),
  convergenceEvent: compile<ConvergenceEvent>("aggregator-status.schema.json#/$defs/ConvergenceEvent"),
  driftEvent: compile<DriftEvent>("aggregator-status.schema.json#/$defs/DriftEvent"),
  driftReport: compile<DriftReport>("aggregator-status.schema.json#/$defs/DriftReport"),
  freezeRequest: compile<FreezeRequest>("aggregator-status.schema.json#/$defs/FreezeRequest"),
  freezeReply: compile<FreezeReply>("aggregator-status.schema.json#/$defs/FreezeReply"),
  deleteRequest: compile<DeleteRequest>("aggregator-status.schema.json#/$defs/DeleteRequest"),
  deleteReply: compile<DeleteReply>("aggregator-status.schema.json#/$defs/DeleteReply"),
  sessionFile: compile<SessionFile>("session-file.schema.json"),
  cliConfig: compile<CliConfig>("cli-config.schema.json"),
};

export type ContractName = keyof typeof validators;

/** One line naming the field and the rule it broke, e.g. `/workloads/0/syscalls/3/count must be >= 0`. */
export function describeValidationError(err: ErrorObject): string {
  const where = err.instancePath === "" ? "(root)" : err.instancePath;
  switch (err.keyword) {
    case "required":
      return `${where} is missing required field "${(err.params as { missingProperty: string }).missingProperty}"`;
    case "additionalProperties":
      return `${where} has unknown field "${(err.params as { additionalProperty: string }).additionalProperty}"`;
    case "enum":
      return `${where} must be one of ${JSON.stringify((err.params as { allowedValues: unknown[] }).allowedValues)}`;
    case "const":
      return `${where} must be ${JSON.stringify((err.params as { allowedValue: unknown }).allowedValue)}`;
    default:
      return `${where} ${err.message ?? "is invalid"} (rule: ${err.keyword})`;
  }
}

/**
 * Validates `value` against a contract and returns it typed, or throws a SeccomposeError whose
 * message names the contract, where the value came from, the field and the rule it broke.
 */
export function assertValid<N extends ContractName>(
  contract: N,
  value: unknown,
  source: string,
  code: ErrorCode = "SC_MESSAGE_INVALID",
): (typeof validators)[N] extends ValidateFunction<infer T> ? T : never {
  const validate = validators[contract] as ValidateFunction;
  if (validate(value)) return value as never;
  const errors = validate.errors ?? [];
  const first = errors[0];
  const reason = first ? describeValidationError(first) : "is invalid";
  throw new SeccomposeError(code, `invalid ${contract} from ${source}: ${reason}`, { details: errors });
}

export function isValid(contract: ContractName, value: unknown): boolean {
  return (validators[contract] as ValidateFunction)(value);
}
