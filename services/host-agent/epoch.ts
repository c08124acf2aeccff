/** Epochs: one name per run of the host agent, sortable by start time. Pure. */

const EPOCH_TIME_DIGITS = 10;
const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/**
 * A new epoch: the start time in base36, zero-padded to 10 digits (sorts by time as text until the year 5188),
 * `-`, and 6 random base36 characters. Matches `^[0-9a-z]{10}-[0-9a-z]{6}$`.
 */
export function newEpoch(nowMs: number = Date.now(), random: () => number = Math.random): string {
  const time = Math.max(0, Math.floor(nowMs)).toString(36).padStart(EPOCH_TIME_DIGITS, "0");
  let suffix = "";
  for (let i = 0; i < 6; i++) suffix += ALPHABET[Math.floor(random() * ALPHABET.length) % ALPHABET.length];
  return `${time}-${suffix}`;
}
