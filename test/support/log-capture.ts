// Collects pino JSON lines in memory and lets a test await one that matches some fields.
// Used as the destination of an in-process runtime's logger.
import pino, { type Logger } from 'pino';

export type LogLine = Record<string, unknown>;

export class LogCapture {
  readonly lines: LogLine[] = [];
  private waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];

  /** pino calls this with one serialized line at a time. */
  write(line: string): void {
    const parsed = JSON.parse(line) as LogLine;
    this.lines.push(parsed);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(parsed)) return true;
      w.resolve(parsed);
      return false;
    });
  }

  logger(level = 'debug'): Logger {
    return pino({ level }, this);
  }

  /** Lines whose fields include every key/value of `fields`. */
  matching(fields: LogLine): LogLine[] {
    return this.lines.filter((l) => matches(l, fields));
  }

  /** The first line (already seen or future) whose fields include `fields`. */
  waitFor(fields: LogLine): Promise<LogLine> {
    const seen = this.lines.find((l) => matches(l, fields));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match: (l) => matches(l, fields), resolve }));
  }

  /** Resolve once `n` lines match `fields`. */
  async waitForCount(fields: LogLine, n: number): Promise<LogLine[]> {
    for (;;) {
      const got = this.matching(fields);
      if (got.length >= n) return got;
      await new Promise<LogLine>((resolve) =>
        this.waiters.push({ match: (l) => matches(l, fields), resolve }),
      );
    }
  }
}

export function matches(line: LogLine, fields: LogLine): boolean {
  for (const [k, v] of Object.entries(fields)) if (line[k] !== v) return false;
  return true;
}
