import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  GitInfoCache,
  parseGitDirFile,
  parseHead,
  parseOriginUrl,
  readGitInfo,
  stripUrlCredentials,
} from "./git-info.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "git-info-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

describe("git info from files", () => {
  it("parses HEAD, .git files and origin URLs", () => {
    expect(parseHead("ref: refs/heads/feature/x\n")).toBe("feature/x");
    expect(parseHead("4b825dc642cb6eb9a060e54bf8d69288fbee4904\n")).toBeNull();
    expect(parseGitDirFile("gitdir: ../main/.git/worktrees/wt\n", "/r/wt")).toBe("/r/main/.git/worktrees/wt");
    expect(parseGitDirFile("nonsense", "/r")).toBeNull();
    const config =
      '[core]\n\tbare = false\n[remote "upstream"]\n\turl = git@x:u.git\n[remote "origin"]\n\turl = https://bob:tok@github.com/o/r.git\n';
    expect(parseOriginUrl(config)).toBe("https://github.com/o/r.git");
    expect(parseOriginUrl("[core]\n")).toBeNull();
    expect(stripUrlCredentials("git@github.com:o/r.git")).toBe("git@github.com:o/r.git");
  });

  it("reads a repository with an origin from a subfolder", async () => {
    const repo = path.join(tmp, "with-origin");
    write(path.join(repo, ".git", "HEAD"), "ref: refs/heads/main\n");
    write(path.join(repo, ".git", "config"), '[remote "origin"]\n\turl = git@github.com:acme/app.git\n');
    mkdirSync(path.join(repo, "src", "deep"), { recursive: true });
    expect(await readGitInfo(path.join(repo, "src", "deep"))).toEqual({
      repo: "git@github.com:acme/app.git",
      branch: "main",
    });
  });

  it("falls back to the folder name, reports detached HEAD as no branch, and handles linked worktrees", async () => {
    const main = path.join(tmp, "plain-repo");
    write(path.join(main, ".git", "HEAD"), "0123456789abcdef0123456789abcdef01234567\n");
    write(path.join(main, ".git", "config"), "[core]\n");
    expect(await readGitInfo(main)).toEqual({ repo: "plain-repo", branch: null });

    const wtGitDir = path.join(main, ".git", "worktrees", "wt");
    write(path.join(wtGitDir, "HEAD"), "ref: refs/heads/topic\n");
    write(path.join(wtGitDir, "commondir"), "../..\n");
    const worktree = path.join(tmp, "elsewhere", "wt");
    write(path.join(worktree, ".git"), `gitdir: ${wtGitDir}\n`);
    expect(await readGitInfo(worktree)).toEqual({ repo: "plain-repo", branch: "topic" });
  });

  it("is null outside a repository", async () => {
    const dir = path.join(tmp, "no-repo");
    mkdirSync(dir, { recursive: true });
    const info = await readGitInfo(dir);
    // tmp itself may sit inside a repository on some machines; only assert when it does not.
    if (info.repo === null) expect(info.branch).toBeNull();
  });

  it("caches per workspace and re-reads only after maxAgeMs", async () => {
    let now = 0;
    let reads = 0;
    const cache = new GitInfoCache(
      5_000,
      async () => ({ repo: `r${++reads}`, branch: null }),
      () => now,
    );
    expect((await cache.get("/w")).repo).toBe("r1");
    now = 4_999;
    expect((await cache.get("/w")).repo).toBe("r1");
    now = 5_000;
    expect((await cache.get("/w")).repo).toBe("r2");
    expect(reads).toBe(2);
  });
});
