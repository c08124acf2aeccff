/**
 * Watches `<stateDir>/presence/` for records written by `claw-supervisor launch`: `fs.watch` for prompt
 * changes plus a slow poll (a dead pid makes no file event). Records whose TUI pid is gone are deleted.
 */
import { watch, type FSWatcher } from "node:fs";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { pidAlive } from "../clients/pid.js";
import { presenceDir, PresenceRecordSchema, type PresenceRecord } from "./presence-record.js";

export { pidAlive };

/** Options of the monitor. */
export interface PresenceMonitorOptions {
  stateDir: string;
  /** Called with every live record whenever the set changes (and once at start). */
  onChange: (records: PresenceRecord[]) => void;
  /** Poll interval in ms (default 2000): catches dead pids and missed file events. */
  pollMs?: number;
  logger?: Logger;
  isAlive?: (pid: number) => boolean;
}

/** Watches presence records; see the module comment. */
export class PresenceMonitor {
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private lastKey = "";
  private stopped = false;
  private readonly dir: string;

  constructor(private readonly opts: PresenceMonitorOptions) {
    this.dir = presenceDir(opts.stateDir);
  }

  /** Creates the folder, scans it once, then watches it. */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.scan();
    try {
      this.watcher = watch(this.dir, () => this.scheduleScan());
      this.watcher.on("error", (err) =>
        this.opts.logger?.warn({ err: err.message }, "presence folder watch failed; polling only"),
      );
    } catch (err) {
      this.opts.logger?.warn({ err: (err as Error).message }, "cannot watch the presence folder; polling only");
    }
    this.poll = setInterval(() => void this.scan(), this.opts.pollMs ?? 2_000);
    this.poll.unref();
  }

  /** Stops watching and polling. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    await this.scanning;
  }

  private scheduleScan(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.scan(), 20);
    this.debounce.unref();
  }

  /** One scan at a time; a request during a scan runs one more afterwards. */
  private scan(): Promise<void> {
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.again = false;
        await this.scanOnce().catch((err: Error) =>
          this.opts.logger?.warn({ err: err.message }, "presence scan failed"),
        );
      } while (this.again && !this.stopped);
    })().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const isAlive = this.opts.isAlive ?? pidAlive;
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter((n) => /^\d+\.json$/.test(n)).sort();
    const live: PresenceRecord[] = [];
    for (const name of names) {
      const file = path.join(this.dir, name);
      const record = await readRecord(file);
      if (!record) continue;
      if (isAlive(record.tuiPid)) live.push(record);
      else await rm(file, { force: true });
    }
    if (this.stopped) return;
    const key = JSON.stringify(live);
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.opts.onChange(live);
  }
}

async function readRecord(file: string): Promise<PresenceRecord | null> {
  try {
    const parsed = PresenceRecordSchema.safeParse(JSON.parse(await readFile(file, "utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
