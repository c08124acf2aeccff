import { describe, expect, it } from "vitest";
import { isSecretKey, redact, redactString } from "./redact.js";

const M = (kind: string) => `[REDACTED:${kind}]`;

describe("redact", () => {
  it.each([
    ["openai key", "use sk-proj-AbCdEf0123456789ghijKLMN now", `use ${M("api-key")} now`],
    ["anthropic key", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz", M("api-key")],
    ["github token", "ghp_0123456789abcdefghijABCDEFGHIJ012345", M("github-token")],
    ["github fine-grained", "github_pat_11ABCDEFG0123456789_abcdefghijklmnop", M("github-token")],
    ["slack token", "token xoxb-1234567890-abcdefghij", `token ${M("slack-token")}`],
    ["aws access key id", "id AKIAIOSFODNN7EXAMPLE.", `id ${M("aws-access-key")}.`],
    ["google key", "AIzaSyA-0123456789abcdefghijklmnopqrstu", M("google-api-key")],
    ["stripe key", "sk_live_0123456789abcdefABCD", M("stripe-key")],
    ["npm token", "npm_0123456789abcdefghijABCDEFGHIJ012345", M("npm-token")],
    ["operator token", `cso_0123456789abcdef_${"A".repeat(43)}`, M("claw-token")],
    ["host token", `cst_0123456789abcdef_${"b-".repeat(21)}c`, M("claw-token")],
    ["jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU", M("jwt")],
    ["bearer header", "Authorization: Bearer abc.def-ghi_jkl", `Authorization: Bearer ${M("bearer")}`],
    ["basic header", "authorization: Basic dXNlcjpwYXNzd29yZA==", `authorization: Basic ${M("bearer")}`],
    ["password pair", "DB_PASSWORD=hunter2 next", `DB_PASSWORD=${M("secret")} next`],
    ["aws secret pair", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", `aws_secret_access_key = ${M("secret")}`],
    ["quoted json pair", '{"apiKey": "abc123"}', `{"apiKey": "${M("secret")}"}`],
    ["yaml pair", "password: 'p@ss w0rd'", `password: '${M("secret")}'`],
    [
      "url password",
      "git clone https://bob:s3cr3t@example.com/r.git",
      `git clone https://bob:${M("url-password")}@example.com/r.git`,
    ],
  ])("catches %s", (_name, input, expected) => {
    expect(redactString(input)).toBe(expected);
  });

  it("removes a whole PEM private key, and a cut-off one to the end of the string", () => {
    const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----";
    expect(redactString(`key:\n${pem}\ndone`)).toBe(`key:\n${M("private-key")}\ndone`);
    expect(redactString("x -----BEGIN PRIVATE KEY-----\nMIIE")).toBe(`x ${M("private-key")}`);
    expect(redactString(pem)).not.toContain("MIIEow");
  });

  it("leaves ordinary text, code and numbers alone", () => {
    for (const text of [
      "Say hello to the fake model",
      "Basic configuration of the bearer instrument",
      "the author: Jane; maxTokens 15",
      "http://127.0.0.1:8080/v1/responses",
      "ask for the password when needed",
      "token: null",
    ]) {
      expect(redactString(text)).toBe(text);
    }
  });

  it("walks objects and arrays without mutating them, and redacts values of secret-named keys", () => {
    const input = {
      threadId: "t1",
      n: 3,
      ok: true,
      nothing: null,
      item: { type: "userMessage", content: [{ type: "text", text: "my key is sk-abcdefghijklmnopqrstuvwxyz" }] },
      env: { GITHUB_TOKEN: "plain-looking", accessToken: "x", tokenUsage: { total: 5 } },
    };
    const copy = structuredClone(input);
    const out = redact(input);
    expect(input).toEqual(copy);
    expect(out.item.content[0]!.text).toBe(`my key is ${M("api-key")}`);
    expect(out.env).toEqual({ GITHUB_TOKEN: M("secret"), accessToken: M("secret"), tokenUsage: { total: 5 } });
    expect(out.n).toBe(3);
    expect(out.nothing).toBeNull();
  });

  it("names secret keys by their ending", () => {
    expect(
      ["password", "DB_PASSWORD", "apiKey", "api_key", "client_secret", "refreshToken", "credentials"].every(
        isSecretKey,
      ),
    ).toBe(true);
    expect(["tokenUsage", "inputTokens", "keyboard", "cwd", "author", "bypass"].some(isSecretKey)).toBe(false);
  });
});
