/**
 * `--replicas 1|3|5` for the commands that ensure the bus (`up`, `service ... --ensure-bus`), or the
 * environment's `CLAW_BUS_REPLICAS` when the flag is not given. Undefined when neither is: new streams and
 * buckets then get one replica and existing ones keep theirs.
 */
import { z } from "zod";
import { BusReplicas } from "../../schemas/bus.js";
import { optionValue } from "./args.js";
import { CliError } from "./io.js";

/** The environment variable that stands for `--replicas`. */
export const REPLICAS_ENV = "CLAW_BUS_REPLICAS";

/** The help lines of `--replicas`: `lines` after the flag, each starting at column `width`. */
export function replicasHelp(width: number, lines: string[]): string[] {
  return lines.map((line, i) => `${(i === 0 ? "--replicas N" : "").padEnd(width)}${line}`);
}

const ReplicasText = z.string().trim().min(1, "must be 1, 3 or 5").transform(Number).pipe(BusReplicas);

/** The replica count asked for by `--replicas` or `CLAW_BUS_REPLICAS`; a bad value is a usage error (exit 2). */
export function askedReplicas(flag: string | undefined, env: NodeJS.ProcessEnv): BusReplicas | undefined {
  if (flag !== undefined) return optionValue("replicas", ReplicasText, flag);
  const fromEnv = env[REPLICAS_ENV];
  if (fromEnv === undefined || fromEnv === "") return undefined;
  const parsed = ReplicasText.safeParse(fromEnv);
  if (!parsed.success) throw new CliError(`${REPLICAS_ENV}: ${parsed.error.issues[0]?.message ?? "invalid value"}`, 2);
  return parsed.data;
}
