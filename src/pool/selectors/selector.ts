// The selector interface: an algorithm that chooses a backend among those that are up.
// Selectors are told about changes (update, onAcquire/onRelease) so that pick() stays cheap;
// pick() never filters by state: the pool hands update() only backends that are up.
import type { Backend } from '../backend.js';

/** What a selector may key on. Built once per session. */
export interface PickContext {
  /** Client IP as text, IPv4-mapped addresses already normalised to plain IPv4. */
  readonly clientIp: string;
  readonly clientPort: number;
}

export interface Selector {
  /**
   * The set of eligible backends (state `up`) or their weights changed.
   * `backends` is in pool order and is not mutated by the selector; it may be empty.
   */
  update(backends: readonly Backend[]): void;
  /**
   * Choose a backend, or undefined when none is eligible.
   * `avoid` holds backends already tried for this session (retries); may be null or empty,
   * never mutated. When every eligible backend is in `avoid`, returns undefined.
   */
  pick(ctx: PickContext, avoid: ReadonlySet<Backend> | null): Backend | undefined;
  /** A session to `b` started (after `b.active` was incremented). Optional. */
  onAcquire?(b: Backend): void;
  /** A session to `b` ended (after `b.active` was decremented). Optional. */
  onRelease?(b: Backend): void;
}
