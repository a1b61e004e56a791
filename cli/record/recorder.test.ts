import { describe, expect, it } from "vitest";
import { recordCommand } from "./recorder.ts";

describe("recordCommand", () => {
  it("says that it runs on Linux only, and what to do instead, on any other system", async () => {
    await expect(recordCommand(["/bin/true"], { argSyscalls: [], platform: "darwin" })).rejects.toMatchObject(
      {
        code: "SC_STRACE_MISSING",
        message: expect.stringMatching(/runs on Linux only .*not on darwin: record inside a Linux VM/),
      },
    );
  });
});
