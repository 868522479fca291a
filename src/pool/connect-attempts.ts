// One client's connect attempts across a pool (the TCP sessions' retries): which backends
// failed (they are not picked again for this client), how many attempts were made, and
// whether another is allowed (1 + `retries` in all).
import type { Logger } from '../log/logger.js';
import type { EndReason } from '../log/end-reason.js';
import type { Backend } from './backend.js';
import type { Pool } from './pool.js';
import type { PickContext } from './selectors/selector.js';

export class ConnectAttempts {
  private tried: Set<Backend> | null = null;
  /** Attempts made so far (the one in flight included). */
  count = 0;

  /** The backend for the next attempt (counted), or undefined when none is left. */
  next(pool: Pool, ctx: PickContext): Backend | undefined {
    const b = pool.pick(ctx, this.tried);
    if (b !== undefined) this.count++;
    return b;
  }

  /** Why a session ends when next() found nothing: no backend at all, or none left. */
  get exhausted(): EndReason {
    return this.count === 0 ? 'no_backend' : 'connect_failed';
  }

  /** The attempt on `b` failed with `code`; true when another attempt is allowed. */
  failed(pool: Pool, b: Backend, code: string, log: Logger): boolean {
    (this.tried ??= new Set()).add(b);
    if (log.isLevelEnabled('debug')) log.debug({ backend: b.key, code, attempt: this.count }, 'connect failed');
    return this.count <= pool.config.retries;
  }
}
