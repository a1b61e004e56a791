import { describe, expect, it } from "vitest";
import { userPath } from "./user-path.ts";

const GYP = "/usr/lib/node_modules/npm/node_modules/@npmcli/run-script/lib/node-gyp-bin";

describe("userPath", () => {
  it("drops what npx/npm run put before the user's PATH", () => {
    const npx = [
      "/home/u/.npm/_npx/ab12/node_modules/.bin",
      "/p/node_modules/.bin",
      "/node_modules/.bin",
      GYP,
    ];
    expect(userPath([...npx, "/usr/local/bin", "/usr/bin"].join(":"))).toBe("/usr/local/bin:/usr/bin");
  });

  it("keeps a PATH npm did not touch, node_modules/.bin entries the user put there included", () => {
    expect(userPath("/p/node_modules/.bin:/usr/bin")).toBe("/p/node_modules/.bin:/usr/bin");
  });

  it("takes what follows the last npm entry when npm ran npm", () => {
    expect(userPath(["/a/node_modules/.bin", GYP, "/b/node_modules/.bin", GYP, "/usr/bin"].join(":"))).toBe(
      "/usr/bin",
    );
  });
});
