/** Argument parsing for CLI commands: node's parseArgs, with errors turned into one-line usage errors. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { z } from "zod";
import { CliError } from "./io.js";
import { closest } from "./suggest.js";

type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

/** Parsed options: booleans for boolean flags, strings for the rest; `help` is always accepted. */
export interface ParsedCommandArgs<T extends OptionSpecs> {
  values: { [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : string } & { help?: boolean };
  positionals: string[];
}

/**
 * Parses argv strictly; an unknown option (with the nearest known one, if any) or a missing value becomes a
 * CliError with exit code 2.
 */
export function parseCommandArgs<T extends OptionSpecs>(
  command: string,
  argv: string[],
  options: T,
): ParsedCommandArgs<T> {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    }) as ParsedCommandArgs<T>;
  } catch (err) {
    // parseArgs appends advice on '--' and '=' that does not fit a one-line error: keep the first sentence.
    const firstLine = (err as Error).message
      .split("\n")[0]!
      .replace(/\. To specify.*$/, "")
      .replace(/\.$/, "");
    const unknown = /^Unknown option '--([^'=]+)/.exec(firstLine)?.[1];
    const guess = unknown === undefined ? undefined : closest(unknown, [...Object.keys(options), "help"]);
    const hint = guess === undefined ? "" : ` Did you mean '--${guess}'?`;
    throw new CliError(`${firstLine}.${hint} See 'claw-supervisor ${command} --help'.`, 2);
  }
}

/** Validates one option value with a zod schema; a bad value becomes a CliError naming the option. */
export function optionValue<S extends z.ZodType>(name: string, schema: S, value: unknown): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new CliError(`--${name}: ${parsed.error.issues[0]?.message ?? "invalid value"}`, 2);
  return parsed.data;
}

/** A positive whole number of milliseconds given as text. */
export const Milliseconds = z.coerce
  .number({ error: "must be a number of milliseconds" })
  .int("must be a whole number of milliseconds")
  .positive("must be greater than 0");
