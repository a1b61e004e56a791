/**
 * The aggregator's status reply (schemas/aggregator-status.schema.json), built from the state
 * alone so it is testable without NATS; `serveStatus` answers requests on sc.agg.status with it.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type {
  AggregatorNodeStatus,
  AggregatorSessionStatus,
  AggregatorStatus,
  AggregatorWorkloadStatus,
} from "../../lib/contracts/types.ts";
import { isValid } from "../../lib/contracts/validators.ts";
import { AGGREGATOR_STATUS_SUBJECT, profileKey, profileRevisionKey } from "../../lib/subjects.ts";
import type { AggregatorState } from "./session-state.ts";
import type { SessionState } from "./session.ts";

export type ConsumerStatus = NonNullable<AggregatorStatus["consumer"]>;

export interface StatusInputs {
  instance: string;
  now: number;
  consumer: ConsumerStatus | undefined;
  checkpoint: { streamSeq: number; writtenAt: string } | undefined;
  /** Only this session; all when undefined. */
  session: string | undefined;
  /** Why the pod ownership check is off; undefined when it is on. */
  podOwnershipOff: string | undefined;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function sessionStatus(s: SessionState): AggregatorSessionStatus {
  const nodes = [...s.nodes.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((n): AggregatorNodeStatus => {
      const out: AggregatorNodeStatus = {
        name: n.name,
        batchesMerged: n.seqs.size,
        eventsMerged: n.events,
        mergedBatches: n.seqs.toString(),
        complete: s.isNodeComplete(n.name),
        droppedEvents: n.droppedEvents,
      };
      if (n.arch !== undefined) out.arch = n.arch;
      if (n.finBatches !== undefined) out.finBatches = n.finBatches;
      if (n.lastEventAt !== undefined) out.lastEventAt = iso(n.lastEventAt);
      out.workloads = n.workloads.size;
      out.tuples = n.tuples;
      out.refusedEvents = n.refusedEvents;
      out.ownershipRefused = { ...n.ownershipRefused };
      out.limited = n.limited;
      if (n.gaps.length > 0) {
        out.gaps = n.gaps.map((g) => ({
          from: iso(g.from),
          to: iso(g.to),
          ...(g.reason !== undefined ? { reason: g.reason } : {}),
        }));
      }
      return out;
    });
  const workloads: AggregatorWorkloadStatus[] =
    s.finalised !== undefined
      ? s.finalised.workloads.map((w) => ({
          workload: w.workload,
          token: w.token,
          profileKey: profileKey(s.id, w.token),
          syscalls: w.syscalls,
          revision: w.revision,
          converged: false,
          frozen: w.frozen ?? false,
          driftEvents: 0,
          drifted: w.drifted ?? 0,
          ...(w.lateRevision !== undefined
            ? { lateRevisionKey: profileRevisionKey(s.id, w.token, w.lateRevision) }
            : {}),
        }))
      : [...s.workloads.values()]
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          .map((ws) => {
            const t = ws.track;
            const out: AggregatorWorkloadStatus = {
              workload: ws.observations.key,
              token: ws.token,
              profileKey: profileKey(s.id, ws.token),
              syscalls: ws.observations.syscalls.size,
              revision: t.revision,
              converged: t.convergedAt !== undefined,
              lastChangeAt: iso(t.lastChangeAt),
              frozen: t.frozen !== undefined,
              driftEvents: t.driftEvents,
              drifted: t.drift.size,
            };
            if (t.convergedAt !== undefined) out.convergedAt = iso(t.convergedAt);
            return out;
          });
  const out: AggregatorSessionStatus = {
    session: s.id,
    mode: s.mode,
    state: s.finalised?.status ?? "recording",
    nodesReporting: s.nodes.size,
    batchesMerged: s.batches,
    eventsMerged: s.events,
    lateBatches: s.lateBatches,
    nodes,
    workloads,
    refused: { ...s.refused },
    heldMessages: s.heldMessages,
    ownershipWaiting: s.waiting.length,
    tuples: s.tuples,
  };
  if (s.streamLoss.length > 0) out.streamLoss = s.streamLoss.map((l) => ({ ...l }));
  if (s.foreignNodes.size > 0) out.foreignNodes = [...s.foreignNodes].sort();
  if (s.record?.expectedNodes !== undefined) out.expectedNodes = [...s.record.expectedNodes].sort();
  const missing = s.finalised !== undefined ? s.finalised.missingNodes : s.incompleteNodes();
  if (missing.length > 0) out.missingNodes = missing;
  if (s.record?.stopDeadline !== undefined) out.stopDeadline = s.record.stopDeadline;
  if (s.finalised !== undefined) out.finalisedAt = iso(s.finalised.at);
  if (s.lastEventAt !== undefined) out.lastEventAt = iso(s.lastEventAt);
  return out;
}

export function buildStatus(state: AggregatorState, inputs: StatusInputs): AggregatorStatus {
  const sessions = [...state.sessions.values()]
    .filter((s) => inputs.session === undefined || s.id === inputs.session)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map(sessionStatus);
  const status: AggregatorStatus = {
    schemaVersion: 1,
    kind: "AggregatorStatus",
    generatedAt: iso(inputs.now),
    instance: inputs.instance,
    badBatches: state.badMessages,
    sessions,
    podOwnershipChecked: inputs.podOwnershipOff === undefined,
    caughtUp: state.caughtUp(),
    refused: { ...state.refused },
    lostMessages: state.lostMessages,
  };
  if (inputs.podOwnershipOff !== undefined) status.podOwnershipReason = inputs.podOwnershipOff;
  if (inputs.consumer !== undefined) status.consumer = inputs.consumer;
  if (inputs.checkpoint !== undefined) status.checkpoint = inputs.checkpoint;
  return status;
}

/** The session a request asks about: body `{"session": "<id>"}`, or every session for an empty body. */
export function requestedSession(body: Uint8Array): { session: string | undefined } | { error: string } {
  if (body.length === 0) return { session: undefined };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return { error: "the status request body is not JSON" };
  }
  if (!isValid("aggregatorStatusRequest", value)) {
    return { error: 'the status request body must be {} or {"session": "<session id>"}' };
  }
  return { session: (value as { session?: string }).session };
}

/** Answers every request on sc.agg.status with `status(session)`; errors as an ErrorBody. */
export function serveStatus(
  nc: NatsConnection,
  status: (session: string | undefined) => Promise<AggregatorStatus>,
  logger: Logger,
): Subscription {
  return nc.subscribe(AGGREGATOR_STATUS_SUBJECT, {
    callback: (err, msg) => {
      if (err !== null) {
        logger.error({ err }, "status subscription failed");
        return;
      }
      const asked = requestedSession(msg.data);
      if ("error" in asked) {
        msg.respond(JSON.stringify({ code: "SC_MESSAGE_INVALID", message: asked.error }));
        return;
      }
      status(asked.session).then(
        (reply) => msg.respond(JSON.stringify(reply)),
        (e: unknown) => {
          logger.error({ err: e }, "could not build the status reply");
          msg.respond(JSON.stringify({ code: "SC_NATS_UNREACHABLE", message: (e as Error).message }));
        },
      );
    },
  });
}
