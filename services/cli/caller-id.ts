/** The operator id the CLI sends when `--caller` is not given: a light module (no bus) for `sessions` too. */
import os from "node:os";

/** `$USER@<short hostname>`. */
export function defaultCallerId(env: NodeJS.ProcessEnv): string {
  return `${env.USER ?? env.LOGNAME ?? "operator"}@${os.hostname().split(".")[0]}`;
}
