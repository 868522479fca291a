// A backend: one HOST:PORT in a pool, its state and its counters.
// Direction is defined here once: *in* = client → backend, *out* = backend → client.
// Counters are plain fields incremented inline; metrics read them at scrape time.
import type { Address } from '../config/types.js';

export type BackendState = 'up' | 'down' | 'draining';

export class Backend {
  /** Identity across reloads: the canonical address text. */
  readonly key: string;
  readonly address: Address;
  weight: number;
  state: BackendState;
  /** Sessions currently open to this backend. */
  active = 0;
  /** Sessions ever opened (successful connects). */
  total = 0;
  /** Bytes client → backend. */
  bytesIn = 0;
  /** Bytes backend → client. */
  bytesOut = 0;
  connectFailures = 0;
  /** Outcome of the last health probe, if any. */
  lastCheck: { ok: boolean; atMs: number; detail: string } | null = null;
  /** Free slot for selectors that keep per-backend bookkeeping (e.g. smooth weighted RR). */
  selectorState = 0;

  constructor(address: Address, weight: number, state: BackendState = 'up') {
    this.key = address.text;
    this.address = address;
    this.weight = weight;
    this.state = state;
  }

  get isUp(): boolean {
    return this.state === 'up';
  }
}
