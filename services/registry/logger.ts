/** The logging surface the registry needs: a subset of pino's, so a pino logger can be passed as is. */
export interface RegistryLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A logger that drops everything (the default when none is given). */
export const silentLogger: RegistryLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
