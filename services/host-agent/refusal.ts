/** A failure the host agent's executor decides itself: thrown inside a command, returned as its result. */
import { type CommandFailure, failure } from "../../schemas/commands.js";

/** A failure decided by the executor itself; thrown inside, returned by `execute`. */
export class Refusal extends Error {
  constructor(readonly failure: CommandFailure) {
    super(failure.message);
  }
}

/** Throws a Refusal with this failure. */
export const refuse = (...args: Parameters<typeof failure>): never => {
  throw new Refusal(failure(...args));
};
