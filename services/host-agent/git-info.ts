/**
 * The git repository and branch of a workspace, read from the files under `.git` (no `git` process).
 * Handles linked worktrees and submodules, where `.git` is a file `gitdir: <path>`.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";

/** What the agent reports about a workspace's repository. */
export interface GitInfo {
  /** The origin URL (credentials removed), else the repository folder's name; null outside a repository. */
  repo: string | null;
  /** The checked-out branch; null when HEAD is detached or there is no repository. */
  branch: string | null;
}

/** The path a `.git` file points to (`gitdir: <path>`), resolved against the folder holding it; null if not that form. Pure. */
export function parseGitDirFile(text: string, folder: string): string | null {
  const match = /^gitdir:\s*(.+?)\s*$/m.exec(text);
  return match?.[1] ? path.resolve(folder, match[1]) : null;
}

/** The branch named by a HEAD file (`ref: refs/heads/<branch>`); null when detached. Pure. */
export function parseHead(text: string): string | null {
  const match = /^ref:\s*refs\/heads\/(.+?)\s*$/m.exec(text);
  return match?.[1] ?? null;
}

/** The `url` of `[remote "origin"]` in a git config file; null when there is none. Pure. */
export function parseOriginUrl(configText: string): string | null {
  let inOrigin = false;
  for (const raw of configText.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("[")) {
      inOrigin = /^\[remote\s+"origin"\]$/.test(line);
      continue;
    }
    if (!inOrigin) continue;
    const match = /^url\s*=\s*(.+)$/.exec(line);
    if (match?.[1]) return stripUrlCredentials(unquote(match[1].trim()));
  }
  return null;
}

/** Removes `user:password@` (or a lone token `token@`) from an http(s) URL; other forms are returned as they are. Pure. */
export function stripUrlCredentials(url: string): string {
  return url.replace(/^(https?:\/\/)[^/@\s]+@/i, "$1");
}

function unquote(text: string): string {
  return text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
}

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return null;
  }
}

/** Finds the nearest `.git` (folder or file) at or above `start`: the work tree root and its git dir. */
async function findGitDir(start: string): Promise<{ workTree: string; gitDir: string } | null> {
  let dir = path.resolve(start);
  for (;;) {
    const dotGit = path.join(dir, ".git");
    const info = await stat(dotGit).catch(() => null);
    if (info?.isDirectory()) return { workTree: dir, gitDir: dotGit };
    if (info?.isFile()) {
      const target = parseGitDirFile((await readText(dotGit)) ?? "", dir);
      if (target) return { workTree: dir, gitDir: target };
    }
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** Reads the repository and branch of `workspace` from its files; `{repo: null, branch: null}` outside a repository. */
export async function readGitInfo(workspace: string): Promise<GitInfo> {
  const found = await findGitDir(workspace);
  if (!found) return { repo: null, branch: null };
  const branch = parseHead((await readText(path.join(found.gitDir, "HEAD"))) ?? "");
  // A linked worktree's git dir names the shared one in `commondir`; config and the main folder live there.
  const commonDirText = await readText(path.join(found.gitDir, "commondir"));
  const commonDir = commonDirText?.trim() ? path.resolve(found.gitDir, commonDirText.trim()) : found.gitDir;
  const origin = parseOriginUrl((await readText(path.join(commonDir, "config"))) ?? "");
  const mainFolder = path.basename(commonDir) === ".git" ? path.dirname(commonDir) : found.workTree;
  return { repo: origin ?? path.basename(mainFolder), branch };
}

/** Caches `readGitInfo` per workspace; an entry is re-read at most once per `maxAgeMs`. */
export class GitInfoCache {
  private readonly entries = new Map<string, { atMs: number; info: Promise<GitInfo> }>();

  constructor(
    private readonly maxAgeMs = 5_000,
    private readonly read: (workspace: string) => Promise<GitInfo> = readGitInfo,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 1_000,
  ) {}

  /** The workspace's git info, from the cache when it is fresh enough. Never rejects. */
  get(workspace: string): Promise<GitInfo> {
    const hit = this.entries.get(workspace);
    if (hit && this.now() - hit.atMs < this.maxAgeMs) return hit.info;
    const info = this.read(workspace).catch((): GitInfo => ({ repo: null, branch: null }));
    this.entries.delete(workspace);
    this.entries.set(workspace, { atMs: this.now(), info });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    return info;
  }
}
