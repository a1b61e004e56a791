/**
 * What the stand-in Falco answers to `--version` and `--list` (see standin-falco.ts): Falco
 * 0.44's version block, as text or JSON, and its field list, with the container plugin's fields
 * when the config loads that plugin.
 */
import { sortedObject } from "./alert-format.ts";

export const FALCO_VERSION = "0.44.1";
const VERSION_INFO: Record<string, string> = {
  default_driver_version: "10.2.0+driver",
  driver_api_version: "10.0.0",
  driver_schema_version: "4.3.0",
  engine_version: "62",
  engine_version_semver: "0.62.0",
  falco_version: FALCO_VERSION,
  libs_version: "0.25.4",
  plugin_api_version: "3.12.0",
};

/** `--version`: JSON when the config sets `json_output`. */
export function printVersion(jsonOutput: boolean): void {
  const info = jsonOutput
    ? `${sortedObject(Object.entries(VERSION_INFO).map(([k, v]) => [k, JSON.stringify(v)]))}\n`
    : readableVersion();
  process.stdout.write(info);
}

function readableVersion(): string {
  return [
    `Falco version: ${FALCO_VERSION}`,
    `Libs version:  ${VERSION_INFO["libs_version"]}`,
    `Plugin API:    ${VERSION_INFO["plugin_api_version"]}`,
    `Engine:        ${VERSION_INFO["engine_version_semver"]}`,
    `Driver:`,
    `  API version:    ${VERSION_INFO["driver_api_version"]}`,
    `  Schema version: ${VERSION_INFO["driver_schema_version"]}`,
    `  Default driver: ${VERSION_INFO["default_driver_version"]}`,
    "",
  ].join("\n");
}

/** `--list[=source]`: the field classes the agent looks for, in Falco's layout. */
export function printFieldList(containerPlugin: boolean): void {
  const classes: Array<[string, string, Array<[string, string]>]> = [
    [
      "evt (Syscall events only)",
      "Event fields applicable to syscall events.",
      [
        ["evt.num", "event number."],
        ["evt.time", "event timestamp as a time string that includes the nanosecond part."],
        ["evt.rawtime", "absolute event timestamp, i.e. nanoseconds from epoch."],
        ["evt.type", "The name of the event (e.g. 'open')."],
        ["evt.res", "event return value, as a string."],
        ["evt.rawres", "event return value, as a number (e.g. -2)."],
        ["evt.arg", "(ARG_REQUIRED) one of the event arguments specified by name or by number."],
        ["evt.rawarg", "(ARG_REQUIRED) one of the event arguments specified by name."],
      ],
    ],
    [
      "process",
      "Additional information about the process and thread executing the syscall event.",
      [
        ["proc.pid", "The id of the process generating the event."],
        ["proc.name", "The process name (truncated after 16 characters) generating the event."],
        ["proc.ppid", "The pid of the parent of the process generating the event."],
        ["thread.tid", "The id of the thread generating the event."],
        ["thread.cgroups", "All cgroups the thread belongs to, aggregated into a single string."],
        ["thread.cgroup", "(ARG_REQUIRED) The cgroup the thread belongs to, for a specific subsystem."],
      ],
    ],
  ];
  if (containerPlugin) {
    classes.push([
      "container (plugin: container)",
      "Container and Kubernetes metadata from the container runtime.",
      [
        ["container.id", "The truncated container ID (first 12 characters)."],
        ["container.name", "The container name."],
        ["k8s.pod.name", "The Kubernetes pod name."],
        ["k8s.ns.name", "The Kubernetes namespace name."],
        ["k8s.pod.uid", "The Kubernetes pod UID."],
      ],
    ]);
  }
  let text = "";
  for (const [name, description, fields] of classes) {
    text += `-------------------------------\nField Class:                  ${name}\nDescription:                  ${description}\nEvent Sources:                syscall \n\n`;
    for (const [field, help] of fields) text += `${field.padEnd(30)}${help} \n`;
    text += "\n";
  }
  process.stdout.write(text);
}
