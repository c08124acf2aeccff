/**
 * How many sign-in checks one dashboard server asks the policy service for: a token bucket shared by every
 * client (a burst of 10, then one every 6 s). Each check is an AUDIT record, and asking needs no credentials,
 * only the port (and, behind a reverse proxy, the internet): unbounded, a few hundred made-up tokens a second
 * push the oldest records out of the audit stream (it keeps 1 GiB, discarding old) within hours. A sign-in that
 * succeeds gives its slot back, so only refused attempts use the bucket up; while it is empty every sign-in is
 * answered 429 (sessions already signed in keep working).
 */

/** The bucket's size and how long one slot takes to come back. */
export interface SigninLimitOptions {
  burst: number;
  refillMs: number;
}

/** 10 attempts at once, then one every 6 s: at most ~14,400 audit records a day from refused sign-ins. */
export const DEFAULT_SIGNIN_LIMIT: SigninLimitOptions = { burst: 10, refillMs: 6_000 };

/** The token bucket; `now` is injectable for tests. */
export class SigninLimiter {
  private slots: number;
  private atMs: number;

  constructor(
    private readonly o: SigninLimitOptions = DEFAULT_SIGNIN_LIMIT,
    private readonly now: () => number = Date.now,
  ) {
    this.slots = o.burst;
    this.atMs = now();
  }

  /** Takes a slot: 0 when one was free, else the milliseconds until one is. */
  take(): number {
    this.refill();
    if (this.slots >= 1) {
      this.slots -= 1;
      return 0;
    }
    return Math.ceil((1 - this.slots) * this.o.refillMs);
  }

  /** Returns a slot taken for an attempt that asked nobody or signed in. */
  giveBack(): void {
    this.refill();
    this.slots = Math.min(this.o.burst, this.slots + 1);
  }

  private refill(): void {
    const now = this.now();
    this.slots = Math.min(this.o.burst, this.slots + Math.max(0, now - this.atMs) / this.o.refillMs);
    this.atMs = now;
  }
}
