/**
 * Events the aggregator publishes (finalisation, drift), read by the CLI: a message that is not
 * JSON or breaks its contract is skipped, never shown, since any publisher may be faulty.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { isValid, type ContractName } from "../../lib/contracts/validators.ts";

export function subscribeValid<T>(
  nc: NatsConnection,
  subject: string,
  contract: ContractName,
  onEvent: (event: T) => void,
): Subscription {
  return nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err !== null) return;
      let value: unknown;
      try {
        value = msg.json();
      } catch {
        return;
      }
      if (isValid(contract, value)) onEvent(value as T);
    },
  });
}
