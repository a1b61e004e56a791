import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import bcrypt from "bcryptjs";
import { usersJson } from "./nats-credentials.ts";

const bcryptVerify = (password: string, hash: string): boolean => {
  try {
    return bcrypt.compareSync(password, hash);
  } catch {
    return false;
  }
};

const DEV = new URL("../../deploy/kustomize/overlays/dev/", import.meta.url);

/** The dev overlay's public sample passwords, by NATS user name, and the hashes in its users.json. */
function devCredentials(): { passwords: Map<string, string>; hashes: Map<string, string> } {
  const kustomization = parseYaml(readFileSync(new URL("kustomization.yaml", DEV), "utf8")) as {
    secretGenerator: Array<{ name: string; literals: string[] }>;
  };
  const passwords = new Map<string, string>();
  for (const gen of kustomization.secretGenerator) {
    for (const literal of gen.literals ?? []) {
      const [key, value] = [literal.slice(0, literal.indexOf("=")), literal.slice(literal.indexOf("=") + 1)];
      if (gen.name === "seccompose-agent-nats") passwords.set(`agent-${key}`, value);
      if (gen.name === "seccompose-aggregator-nats") passwords.set("aggregator", value);
      if (gen.name === "seccompose-cli-nats") passwords.set("cli", value);
    }
  }
  const users = JSON.parse(readFileSync(new URL("credentials/users.json", DEV), "utf8")) as {
    users: Array<{ user: string; password: string }>;
  };
  return { passwords, hashes: new Map(users.users.map((u) => [u.user, u.password])) };
}

/** bcryptjs makes and checks the hashes nats-server reads from users.json (`cli/install/nats-credentials.ts`). */
describe("bcrypt password hashes", () => {
  it("hashes the password users into users.json, keeps an existing hash that still matches, and lists agents by NKey", async () => {
    const nodeKey = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";
    const credentials = { agents: { "node-a": nodeKey }, aggregator: "pg", cli: "pc", route: "pr" };
    type Users = { users: Array<{ user?: string; nkey?: string; password?: string }> };
    const first = JSON.parse(await usersJson(credentials, new Map())) as Users;
    expect(first.users.filter((u) => u.nkey !== undefined)).toEqual([
      expect.objectContaining({ nkey: nodeKey }),
    ]);
    expect(first.users.find((u) => u.nkey === nodeKey)?.password).toBeUndefined();
    const hashes = new Map(
      first.users.filter((u) => u.user !== undefined).map((u) => [u.user!, u.password!]),
    );
    expect([...hashes.keys()].sort()).toEqual(["aggregator", "cli"]);
    expect(hashes.get("cli")).toMatch(/^\$2b\$11\$/);
    expect(bcryptVerify("pc", hashes.get("cli")!)).toBe(true);
    expect(bcryptVerify("pg", hashes.get("cli")!)).toBe(false);

    const again = JSON.parse(await usersJson({ ...credentials, cli: "changed" }, hashes)) as Users;
    const second = new Map(
      again.users.filter((u) => u.user !== undefined).map((u) => [u.user!, u.password!]),
    );
    expect(second.get("aggregator")).toBe(hashes.get("aggregator"));
    expect(second.get("cli")).not.toBe(hashes.get("cli"));
    expect(bcryptVerify("changed", second.get("cli")!)).toBe(true);
  }, 30_000);

  it("matches the hashes of the dev overlay's sample credentials, which nats-server accepts", () => {
    const { passwords, hashes } = devCredentials();
    expect(passwords.size).toBe(5);
    for (const [user, password] of passwords) {
      expect(bcryptVerify(password, hashes.get(user)!), user).toBe(true);
      expect(bcryptVerify(`${password}x`, hashes.get(user)!), user).toBe(false);
    }
  });
});
