/**
 * Imported first by main.tsx, before any schema is built: zod compiles object parsers with `new Function` unless
 * told not to, and the page's CSP (script-src 'self') forbids eval; even zod's probe for it is reported as a
 * violation. Schemas read this setting when they are constructed, so it must come before them.
 */
import { z } from "zod";

z.config({ jitless: true });
