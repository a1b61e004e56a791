import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { bcryptHash, bcryptVerify } from "./bcrypt.ts";

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

describe("bcrypt", () => {
  it("verifies the published crypt_blowfish test vectors", () => {
    expect(bcryptVerify("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")).toBe(true);
    expect(bcryptVerify("U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK")).toBe(true);
    expect(bcryptVerify("", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy")).toBe(true);
    expect(bcryptVerify("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK")).toBe(false);
  });

  it("matches the hashes of the dev overlay's sample credentials, which nats-server accepts", () => {
    const { passwords, hashes } = devCredentials();
    expect(passwords.size).toBe(5);
    for (const [user, password] of passwords) {
      expect(bcryptVerify(password, hashes.get(user)!), user).toBe(true);
      expect(bcryptVerify(`${password}x`, hashes.get(user)!), user).toBe(false);
    }
  });

  it("makes salted $2b$ hashes that verify, a different one each time", () => {
    const a = bcryptHash("s3cret", 4);
    const b = bcryptHash("s3cret", 4);
    expect(a).toMatch(/^\$2b\$04\$[./A-Za-z0-9]{53}$/);
    expect(a).not.toBe(b);
    expect(bcryptVerify("s3cret", a)).toBe(true);
    expect(bcryptVerify("s3cret!", a)).toBe(false);
    expect(bcryptVerify("s3cret", "not a hash")).toBe(false);
  });
});
