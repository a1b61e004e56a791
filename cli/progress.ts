/**
 * Progress of a wait (a session being finalised, a rollout): a bar redrawn in place on a terminal
 * (cli-progress), one plain line per change otherwise, so logs and pipes stay readable.
 */
import { SingleBar } from "cli-progress";

export interface Progress {
  /** `value` of `total` done; `label` says what is still awaited. */
  update(value: number, total: number, label: string): void;
  /** Ends the display, with a last line when given. */
  stop(message?: string): void;
}

export function createProgress(title: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new SingleBar({
      format: `${title} [{bar}] {value}/{total} {label}`,
      stream,
      hideCursor: true,
      clearOnComplete: false,
      barsize: 24,
    });
    let started = false;
    return {
      update(value, total, label) {
        if (!started) {
          bar.start(total, value, { label });
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(value, { label });
        }
      },
      stop(message) {
        if (started) bar.stop();
        if (message !== undefined) stream.write(`${message}\n`);
      },
    };
  }
  let last = "";
  return {
    update(value, total, label) {
      const line = `${title}: ${value}/${total} ${label}`;
      if (line === last) return;
      last = line;
      stream.write(`${line}\n`);
    },
    stop(message) {
      if (message !== undefined) stream.write(`${message}\n`);
    },
  };
}
