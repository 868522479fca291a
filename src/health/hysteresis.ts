// Rise/fall hysteresis for one backend: `rise` consecutive passes to go up, `fall`
// consecutive failures to go down (SPEC). One counter per direction; a result that agrees
// with the current state resets the opposite run. record() returns the transition as a value
// (Envoy's HealthTransition idea) so the caller only acts on went_up / went_down.

export type Transition = 'went_up' | 'went_down' | 'unchanged';

export class Hysteresis {
  up: boolean;
  /** Consecutive results against the current state. */
  private run = 0;

  constructor(
    public rise: number,
    public fall: number,
    up: boolean,
  ) {
    this.up = up;
  }

  record(ok: boolean): Transition {
    if (ok === this.up) {
      this.run = 0;
      return 'unchanged';
    }
    this.run++;
    if (this.run < (this.up ? this.fall : this.rise)) return 'unchanged';
    this.run = 0;
    this.up = ok;
    return ok ? 'went_up' : 'went_down';
  }
}
