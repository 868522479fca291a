// Failures of lb's own resources: descriptors (EMFILE, ENFILE), kernel buffers and memory
// (ENOBUFS, ENOMEM) and local ports (EADDRNOTAVAIL). They say nothing about a backend, so
// they never count against one (health, passive failures, retries) and a session that meets
// one ends with `local_error`. The counts are process-wide, by errno name, and are read at
// scrape time (`lb_local_errors_total{code}`).

const LOCAL = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL']);

/** True for an errno name that is lb's own failure rather than the peer's or the network's. */
export function isLocalError(code: string | undefined): boolean {
  return code !== undefined && LOCAL.has(code);
}

/** Local errors met so far, by errno name. */
export const localErrors = new Map<string, number>();

export function countLocalError(code: string): void {
  localErrors.set(code, (localErrors.get(code) ?? 0) + 1);
}
