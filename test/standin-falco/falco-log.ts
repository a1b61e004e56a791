/** The stand-in Falco's log on stderr, in Falco's format (see standin-falco.ts). */

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Falco's log line: `Thu Nov 27 16:30:20 2026: message`. */
export function log(message: string): void {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, "0");
  const stamp = `${WEEKDAYS[now.getDay()]} ${MONTHS[now.getMonth()]} ${pad(now.getDate())} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())} ${now.getFullYear()}`;
  process.stderr.write(`${stamp}: ${message}\n`);
}
