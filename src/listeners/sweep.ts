// Timeouts without a timer per session: a listener sweeps its sessions on one interval.

/** A sweep looks every tenth of its timeout (10 ms to 1 s): a timeout is late by at most that. */
export function sweepEvery(timeoutMs: number): number {
  return Math.min(1000, Math.max(10, Math.floor(timeoutMs / 10)));
}
