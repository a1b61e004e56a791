import type { WorkloadKey } from "../lib/contracts/types.ts";
import { SeccomposeError } from "../lib/errors.ts";
import type { Baseline } from "../lib/profile/baselines.ts";
import type { ProfileSource } from "../lib/profile/profile-source.ts";
import {
  ociProfileJson,
  renderOciProfile,
  spoProfileYaml,
  type RenderResult,
} from "../lib/profile/render.ts";

export type ProfileFormat = "oci" | "spo";

export interface ProfileOutputOptions {
  format: ProfileFormat;
  baseline: Baseline;
  complain: boolean;
  defaultErrnoRet?: number;
  /** See RenderOptions.fallbackArchitectures. */
  fallbackArchitectures?: readonly string[];
}

export interface RenderedProfile {
  text: string;
  result: RenderResult;
}

export function renderProfileText(
  source: ProfileSource,
  opts: ProfileOutputOptions,
  meta: { workload: WorkloadKey; session?: string },
): RenderedProfile {
  const result = renderOciProfile(source, {
    baseline: opts.baseline,
    complain: opts.complain,
    ...(opts.defaultErrnoRet !== undefined ? { defaultErrnoRet: opts.defaultErrnoRet } : {}),
    ...(opts.fallbackArchitectures !== undefined
      ? { fallbackArchitectures: opts.fallbackArchitectures }
      : {}),
  });
  const text = opts.format === "spo" ? spoProfileYaml(result.profile, meta) : ociProfileJson(result.profile);
  return { text, result };
}

export function parseFormat(value: string): ProfileFormat {
  if (value === "oci" || value === "spo") return value;
  throw new SeccomposeError("SC_USAGE", `--format must be oci or spo, not "${value}"`);
}

export function parseBaseline(value: string): Baseline {
  if (value === "runc" || value === "crun" || value === "none") return value;
  throw new SeccomposeError("SC_USAGE", `--baseline must be runc, crun or none, not "${value}"`);
}

/** Lines for the user about what the renderer did beyond the observations. */
export function renderNotes(result: RenderResult): string[] {
  const notes: string[] = [];
  if (result.unknownSyscalls.length > 0) {
    notes.push(`not emitted, unknown on every target architecture: ${result.unknownSyscalls.join(", ")}`);
  }
  notes.push(...result.warnings);
  return notes;
}
