// "Wait until a listener has no sessions left, or until a deadline": the one mechanism every
// listener's drain() uses. The listener calls emptied() when its last session ends; drain()
// awaits until(size, deadline). No polling: waiters are resolved by the last session's end.

export class DrainWait {
  private waiters: Array<() => void> = [];

  /** The listener's session count just reached zero: wake every drain() waiting on it. */
  emptied(): void {
    if (this.waiters.length === 0) return;
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * Resolve when emptied() is called or at `deadlineMs` (a performance.now() instant),
   * whichever is first; at once when `size` is already 0.
   */
  async until(size: number, deadlineMs: number): Promise<void> {
    if (size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const left = Math.max(0, deadlineMs - performance.now());
    await Promise.race([
      new Promise<void>((resolve) => this.waiters.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, left))),
    ]);
    clearTimeout(timer);
  }
}
