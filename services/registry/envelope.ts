/**
 * Reading one CODEX_EVENTS message as a session event envelope, as cheaply as the registry's ingest rate needs
 * and exactly as strictly as `SessionEventEnvelopeSchema`: every message is JSON-parsed once, and a hand-written
 * check of the envelope's shell (`isPlainSessionEventEnvelope`: the seven fields, their types and bounds)
 * accepts only what the schema accepts.
 * Anything the check does not accept goes through the schema itself, which either accepts it after all or names
 * what is wrong. So bad input is still refused with the schema's own reasons, and good input skips zod's walk
 * and its copy of every envelope. The subject must be `codex.evt.<hostId>.<threadId>` of the envelope's ids,
 * each a valid subject token; a subject seen valid once is remembered, so that is a comparison, not a rebuild.
 * The payload is the session machine's business (`machines/from-bus.ts` parses each kind).
 */
import {
  isPlainSessionEventEnvelope,
  SessionEventEnvelopeSchema,
  type SessionEventEnvelope,
} from "../../schemas/bus.js";
import { subjects } from "../bus/index.js";

/** An envelope read from a message, or why it was refused. */
export type EnvelopeRead = { ok: true; envelope: SessionEventEnvelope } | { ok: false; reason: string };

const EVENT_PREFIX = "codex.evt.";
/** Remembered valid subjects at most (one per session); the set starts over past it. */
const MAX_SUBJECTS = 200_000;
const MAX_ISSUES = 3;
const utf8 = new TextDecoder();

/** Reads session event envelopes from CODEX_EVENTS messages; remembers the subjects it found valid. */
export class EnvelopeReader {
  private readonly validSubjects = new Set<string>();

  /** The envelope `data` holds, when it is one and `subject` is its session's subject; else why not. */
  read(subject: string, data: Uint8Array): EnvelopeRead {
    let value: unknown;
    try {
      value = JSON.parse(utf8.decode(data));
    } catch {
      return { ok: false, reason: "not JSON" };
    }
    let envelope: SessionEventEnvelope;
    if (isPlainSessionEventEnvelope(value)) envelope = value;
    else {
      const parsed = SessionEventEnvelopeSchema.safeParse(value);
      if (!parsed.success) {
        const issues = parsed.error.issues
          .slice(0, MAX_ISSUES)
          .map((i) => `${i.path.join(".") || "envelope"}: ${i.message}`);
        return { ok: false, reason: `not a session event envelope: ${issues.join("; ")}` };
      }
      envelope = parsed.data;
    }
    if (!this.subjectMatches(subject, envelope.hostId, envelope.threadId))
      return { ok: false, reason: "the subject is not codex.evt.<hostId>.<threadId> of the envelope" };
    return { ok: true, envelope };
  }

  private subjectMatches(subject: string, hostId: string, threadId: string): boolean {
    const dot = EVENT_PREFIX.length + hostId.length;
    const same =
      subject.length === dot + 1 + threadId.length &&
      subject.startsWith(EVENT_PREFIX) &&
      subject.startsWith(hostId, EVENT_PREFIX.length) &&
      subject.charCodeAt(dot) === 46 &&
      subject.endsWith(threadId);
    if (!same) return false;
    // Equal text is not enough: a host id holding '.' would fit another session's subject. Check the tokens once.
    if (this.validSubjects.has(subject)) return true;
    try {
      subjects.sessionEvents(hostId, threadId);
    } catch {
      return false;
    }
    if (this.validSubjects.size >= MAX_SUBJECTS) this.validSubjects.clear();
    this.validSubjects.add(subject);
    return true;
  }
}
