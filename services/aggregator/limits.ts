/** The aggregator's integrity limits (config `limits.*`): what one node, and one session, may cost. */
export interface Limits {
  maxWorkloadsPerSession: number;
  maxWorkloadsPerNode: number;
  /** Count entries: (workload, syscall, argument tuple, container) combinations. */
  maxTuplesPerSession: number;
  maxTuplesPerNode: number;
  /** Highest batch number, and FIN batch count, accepted from a node. */
  maxBatchesPerNode: number;
  /** Messages kept per node while the session's node set is not written yet. */
  maxHeldMessagesPerNode: number;
  /** How long a workload entry waits for the pod watch to see its pod or container. */
  ownershipWaitMs: number;
  /** Events of one node's waiting workload entries. */
  maxOwnershipWaitEventsPerNode: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxWorkloadsPerSession: 5000,
  maxWorkloadsPerNode: 1000,
  maxTuplesPerSession: 200_000,
  maxTuplesPerNode: 50_000,
  maxBatchesPerNode: 1_000_000,
  maxHeldMessagesPerNode: 256,
  ownershipWaitMs: 30_000,
  maxOwnershipWaitEventsPerNode: 20_000,
};
