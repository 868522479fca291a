// The global connection budget shared by every listener ([global] max_connections).
import assert from 'node:assert/strict';

export class ConnectionBudget {
  active = 0;
  constructor(public max: number) {}

  /** Take one slot; false when the budget is spent. */
  tryAcquire(): boolean {
    if (this.active >= this.max) return false;
    this.active++;
    return true;
  }

  release(): void {
    this.active--;
    assert.ok(this.active >= 0, 'global connection budget went negative');
  }
}
