/** The logging surface the registry needs: a subset of pino's, so a pino logger can be passed as is. */
export interface RegistryLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  /** A logger whose lines carry `bindings` too (pino's `child`). */
  child?(bindings: Record<string, unknown>): RegistryLogger;
}

/** A logger that drops everything (the default when none is given). */
export const silentLogger: RegistryLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** `logger.child(bindings)` when it has one (pino), else a logger that adds `bindings` to every line's object. */
export function childLogger(logger: RegistryLogger, bindings: Record<string, unknown>): RegistryLogger {
  if (logger === silentLogger) return logger;
  if (typeof logger.child === "function") return logger.child(bindings);
  const line =
    (level: "debug" | "info" | "warn" | "error") =>
    (obj: object, msg: string): void =>
      logger[level]({ ...bindings, ...obj }, msg);
  return {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
    child: (more) => childLogger(logger, { ...bindings, ...more }),
  };
}
