/**
 * Reading the drift reports the aggregator keeps beside the profiles in KV sc_profiles
 * (`<session>.<workload token>.drift`, schemas/aggregator-status.schema.json DriftReport): the CLI
 * reads them with the rights it has to read profiles.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { DriftReport } from "../../lib/contracts/types.ts";
import { assertValid } from "../../lib/contracts/validators.ts";
import { toSeccomposeError } from "../../lib/nats/errors.ts";
import { BUCKET_PROFILES, driftReportKey } from "../../lib/subjects.ts";
import { openBucket } from "./session-store.ts";

/** The drift reports of a session (or of one workload of it), by workload token. */
export async function readDriftReports(
  js: JetStreamClient,
  session: string,
  token?: string,
): Promise<DriftReport[]> {
  const kv = await openBucket(js, BUCKET_PROFILES);
  const keys: string[] = [];
  try {
    for await (const key of await kv.keys(driftReportKey(session, token ?? "*"))) keys.push(key);
  } catch (err) {
    throw toSeccomposeError(err, `listing the drift reports of session ${session} in KV ${BUCKET_PROFILES}`);
  }
  const reports: DriftReport[] = [];
  for (const key of keys.sort()) {
    let entry;
    try {
      entry = await kv.get(key);
    } catch (err) {
      throw toSeccomposeError(err, `reading ${key} from KV ${BUCKET_PROFILES}`);
    }
    if (entry === null || entry.operation !== "PUT") continue;
    const where = `KV ${BUCKET_PROFILES} key ${key}`;
    reports.push(assertValid("driftReport", entry.json(), where, "SC_DOCUMENT_INVALID"));
  }
  return reports;
}
