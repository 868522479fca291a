// The per-backend schedule the prober's checks and the load reader's reads share: the first
// run soon, at a random point within min(interval, 100 ms), so new backends are seen fast;
// each next one `interval` ±10% after the last ended, so hundreds of backends do not fire in
// the same tick (Envoy's interval_jitter) and one run at most is in flight. stop() clears the
// timer, aborts the run in flight and drops its result.

const JITTER = 0.1;
/** The first run comes within this long (or within the interval, when that is shorter). */
const FIRST_RUN_WITHIN_MS = 100;

export class JitteredSchedule<R> {
  private timer: NodeJS.Timeout | null = null;
  private abort: AbortController | null = null;
  private stopped = false;

  /**
   * Starts at once. `intervalMs` is read each time a run is scheduled (a reload's interval
   * applies from the next run); `run` resolves, never rejects, and its signal aborts on
   * stop(); `done` takes each result unless stop() came first.
   */
  constructor(
    private readonly intervalMs: () => number,
    private readonly run: (signal: AbortSignal) => Promise<R>,
    private readonly done: (result: R) => void,
  ) {
    this.after(Math.random() * Math.min(intervalMs(), FIRST_RUN_WITHIN_MS));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.abort?.abort();
  }

  private after(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.next(), delayMs);
  }

  private async next(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    this.abort = new AbortController();
    const result = await this.run(this.abort.signal);
    this.abort = null;
    if (this.stopped) return;
    this.done(result);
    this.after(this.intervalMs() * (1 - JITTER + 2 * JITTER * Math.random()));
  }
}
