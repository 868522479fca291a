// The routing table of one http listener: routes in config order, first match wins, else the
// listener's pool. A route matches when its host (exact, or "*.suffix": any name ending in
// ".suffix") and its path_prefix both match; port and case of the Host header are ignored.
import type { RouteConfig } from '../config/types.js';
import type { Pool } from '../pool/pool.js';
import { RateLimiter } from './rate-limit.js';

export interface Route {
  /** Exact lowercase host, or null. */
  readonly host: string | null;
  /** ".example.com" for "*.example.com", or null. */
  readonly suffix: string | null;
  readonly pathPrefix: string | null;
  readonly pool: Pool;
  /** Per-client-IP token bucket, or null without rate_limit. */
  readonly limiter: RateLimiter | null;
  readonly config: RouteConfig | null;
}

export class Router {
  readonly routes: readonly Route[];
  /** The listener's own pool, for requests no route matches. */
  readonly fallback: Route;
  private readonly needsHost: boolean;

  /**
   * `pools` must hold every pool a route names (validate.ts guarantees it). `previous`: the
   * router this one replaces on reload; a route with the same host, path_prefix and rate_limit
   * keeps its buckets, so a reload does not hand every client a fresh burst.
   */
  constructor(routes: readonly RouteConfig[], pools: ReadonlyMap<string, Pool>, fallbackPool: Pool, previous: Router | null = null) {
    this.routes = routes.map((rc) => {
      const pool = pools.get(rc.pool);
      if (pool === undefined) throw new Error(`route names unknown pool ${rc.pool}`);
      const wildcard = rc.host !== undefined && rc.host.startsWith('*.');
      const same = previous?.routes.find((r) => r.config !== null && sameLimit(r.config, rc));
      let limiter: RateLimiter | null = null;
      if (rc.rateLimit !== undefined) limiter = same?.limiter ?? new RateLimiter(rc.rateLimit);
      return {
        host: rc.host !== undefined && !wildcard ? rc.host.toLowerCase() : null,
        suffix: wildcard ? rc.host!.slice(1).toLowerCase() : null,
        pathPrefix: rc.pathPrefix ?? null,
        pool,
        limiter,
        config: rc,
      };
    });
    this.fallback = { host: null, suffix: null, pathPrefix: null, pool: fallbackPool, limiter: null, config: null };
    this.needsHost = this.routes.some((r) => r.host !== null || r.suffix !== null);
  }

  /** The route for a request: `host` is the raw Host header (may be undefined), `path` the request target. O(routes). */
  match(host: string | undefined, path: string): Route {
    const name = this.needsHost && host !== undefined ? hostName(host) : '';
    for (const r of this.routes) {
      if (r.host !== null && r.host !== name) continue;
      if (r.suffix !== null && !(name.length > r.suffix.length && name.endsWith(r.suffix))) continue;
      if (r.pathPrefix !== null && !path.startsWith(r.pathPrefix)) continue;
      return r;
    }
    return this.fallback;
  }
}

/** "Api.Example.com:8080" → "api.example.com"; "[::1]:80" → "[::1]"; a trailing dot is dropped. */
export function hostName(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    end = close < 0 ? end : close + 1;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  const name = end === host.length ? host : host.slice(0, end);
  return name.toLowerCase();
}

/** The path of a request target: origin-form as is; absolute-form ("http://h/p") reduced to "/p". */
export function targetPath(url: string): string {
  if (url.charCodeAt(0) === 47 /* / */) return url;
  const scheme = url.indexOf('://');
  if (scheme < 0) return url;
  const slash = url.indexOf('/', scheme + 3);
  return slash < 0 ? '/' : url.slice(slash);
}

function sameLimit(a: RouteConfig, b: RouteConfig): boolean {
  return (
    a.host === b.host &&
    a.pathPrefix === b.pathPrefix &&
    a.rateLimit !== undefined &&
    b.rateLimit !== undefined &&
    a.rateLimit.requests === b.rateLimit.requests &&
    a.rateLimit.perMs === b.rateLimit.perMs &&
    a.rateLimit.burst === b.rateLimit.burst
  );
}
