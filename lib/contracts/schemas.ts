import common from "../../schemas/common.schema.json" with { type: "json" };
import session from "../../schemas/session.schema.json" with { type: "json" };
import eventMessage from "../../schemas/event-message.schema.json" with { type: "json" };
import control from "../../schemas/control.schema.json" with { type: "json" };
import profileDocument from "../../schemas/profile-document.schema.json" with { type: "json" };
import agentConfig from "../../schemas/agent-config.schema.json" with { type: "json" };
import aggregatorConfig from "../../schemas/aggregator-config.schema.json" with { type: "json" };
import aggregatorStatus from "../../schemas/aggregator-status.schema.json" with { type: "json" };
import sessionFile from "../../schemas/session-file.schema.json" with { type: "json" };
import cliConfig from "../../schemas/cli-config.schema.json" with { type: "json" };

/** Every schema in schemas/, by file name: the contract of every message, config and document. */
export const schemaFiles = {
  "common.schema.json": common,
  "session.schema.json": session,
  "event-message.schema.json": eventMessage,
  "control.schema.json": control,
  "profile-document.schema.json": profileDocument,
  "agent-config.schema.json": agentConfig,
  "aggregator-config.schema.json": aggregatorConfig,
  "aggregator-status.schema.json": aggregatorStatus,
  "session-file.schema.json": sessionFile,
  "cli-config.schema.json": cliConfig,
} as const;

export type SchemaFile = keyof typeof schemaFiles;
