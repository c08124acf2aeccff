/**
 * TypeBox parameters derived from the zod schemas in `schemas/`, so the lists OpenClaw shows the model (session
 * statuses, send modes, marks) cannot drift from the ones the commands accept. Only the kind the fleet tools need
 * is converted: a zod string enum becomes a TypeBox union of its literals, in the enum's order.
 */
import { type TLiteral, type TUnion, Type } from "typebox";
import type { z } from "zod";

/** What `enumParam` takes beside the enum. */
export interface EnumParamOptions {
  /** What the model reads about the parameter. */
  description: string;
  /** Values the tool accepts beyond the enum's, after them (e.g. `none` that clears a mark). */
  extra?: readonly string[];
}

/**
 * A TypeBox union of string literals with exactly the values of `schema` (then `extra`): the JSON Schema
 * `{ anyOf: [{ type: "string", const: v }, ...], description }` OpenClaw passes to the model. Pure.
 */
export function enumParam<const V extends string, const X extends string = never>(
  schema: z.ZodEnum<{ [K in V]: K }>,
  options: EnumParamOptions & { extra?: readonly X[] },
): TUnion<TLiteral<V | X>[]> {
  const values: (V | X)[] = [...(schema.options as V[]), ...(options.extra ?? [])];
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    { description: options.description },
  );
}
