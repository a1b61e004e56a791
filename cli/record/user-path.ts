import { delimiter } from "node:path";

/**
 * The PATH the user had before npm changed it. `npx`, `npm exec` and `npm run` put the package's
 * `node_modules/.bin` directories (with this repository's pinned Node) first, then npm's
 * node-gyp-bin, then the user's PATH (@npmcli/run-script's setPATH); a traced `node app.js` must be
 * the user's Node, not ours. So what follows the last node-gyp-bin entry is the user's PATH; without
 * one, PATH was not changed by npm.
 */
export function userPath(path: string): string {
  const entries = path.split(delimiter);
  const last = entries.findLastIndex((e) => /[\\/]@npmcli[\\/]run-script[\\/]lib[\\/]node-gyp-bin$/.test(e));
  return last === -1 ? path : entries.slice(last + 1).join(delimiter);
}
