/**
 * Brings this node's seccomp directory in line with KV sc_installed when the agent starts: every
 * profile `profile apply` marked as installed is written (so a new node, or one whose agent was
 * down, gets it before a pod bound to it lands there), and every profile `profile uninstall`
 * unmarked is removed. Files the bucket does not name (`profile get --install`) are left alone.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { ProfileSyncReport } from "../../../lib/contracts/types.ts";
import { isSeccomposeError } from "../../../lib/errors.ts";
import { InstalledMarks, type MarkEntry } from "../../../lib/nats/installed-marks.ts";
import { BUCKET_INSTALLED } from "../../../lib/subjects.ts";
import type { ProfileInstaller, ProfileRemover } from "./profile-installer.ts";

const MAX_REPORTED_ERRORS = 100;

export interface SyncTarget {
  install: ProfileInstaller;
  remove: ProfileRemover;
}

/** Applies the marks to the directory, one profile at a time; a failure is reported, never thrown. */
export async function syncInstalledProfiles(
  entries: readonly MarkEntry[],
  target: SyncTarget,
  logger: Logger,
  now: () => Date = () => new Date(),
): Promise<ProfileSyncReport> {
  const report: ProfileSyncReport = {
    at: now().toISOString(),
    installed: [],
    unchanged: [],
    removed: [],
    errors: [],
  };
  const fail = (name: string, code: string, message: string) => {
    logger.error({ profile: name, code, err: message }, "profile sync failed");
    if (report.errors.length < MAX_REPORTED_ERRORS) report.errors.push({ name, code, message });
  };
  for (const entry of entries) {
    try {
      if (entry.state === "invalid") fail(entry.name, "SC_MESSAGE_INVALID", entry.error);
      else if (entry.state === "uninstalled") {
        if ((await target.remove(entry.name)).removed) {
          report.removed.push(entry.name);
          logger.info({ profile: entry.name }, "removed an uninstalled profile");
        }
      } else {
        const { mark } = entry;
        const installed = await target.install({ name: mark.name, profile: mark.profile });
        (installed.unchanged ? report.unchanged : report.installed).push(mark.name);
        logger.info(
          {
            profile: mark.name,
            sha256: installed.sha256,
            session: mark.session,
            workload: mark.workload,
            unchanged: installed.unchanged ?? false,
          },
          "installed a marked profile",
        );
      }
    } catch (err) {
      fail(entry.name, isSeccomposeError(err) ? err.code : "SC_INTERNAL", (err as Error).message);
    }
  }
  return report;
}

export interface ProfileSync {
  /** The last sync's report; undefined until the bucket could be read. */
  report(): ProfileSyncReport | undefined;
  stop(): Promise<void>;
}

/**
 * Syncs once, in the background, as soon as the bucket can be read (the aggregator creates it);
 * control requests are served meanwhile.
 */
export function startProfileSync(
  nc: NatsConnection,
  target: SyncTarget,
  logger: Logger,
  retryMs = 2000,
): ProfileSync {
  let stopped = false;
  let last: ProfileSyncReport | undefined;
  let wake: (() => void) | undefined;
  const done = (async () => {
    let warned = false;
    while (!stopped) {
      try {
        const marks = await InstalledMarks.open(nc);
        const entries = await marks.entries();
        last = await syncInstalledProfiles(entries, target, logger);
        logger.info(
          {
            installed: last.installed.length,
            unchanged: last.unchanged.length,
            removed: last.removed.length,
            errors: last.errors.length,
          },
          `seccomp directory synced with KV ${BUCKET_INSTALLED}`,
        );
        return;
      } catch (err) {
        if (!warned)
          logger.warn(
            { err },
            `waiting for the ${BUCKET_INSTALLED} bucket (created by the aggregator) to sync installed profiles`,
          );
        warned = true;
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, retryMs).unref();
        });
      }
    }
  })();
  return {
    report: () => last,
    async stop() {
      stopped = true;
      wake?.();
      await done;
    },
  };
}
