/** The target selector policy rules, approval rules and budgets share. */
import { z } from "zod";

/** Which sessions a rule covers: every given field must match the session's registry record; `{}` is any. */
export const TargetSelector = z.strictObject({
  group: z.string().min(1).optional(),
  host: z.string().min(1).optional(),
  repo: z.string().min(1).optional(),
  session: z.string().min(1).optional(),
  autonomous: z.boolean().optional(),
  humanAttached: z.boolean().optional(),
});
export type TargetSelector = z.infer<typeof TargetSelector>;
