// Collecting and printing ConfigProblems. Validators push problems here and never throw
// (STYLE §7.1); positions come from the PositionIndex when the source text is known.
import type { ConfigProblem } from './types.js';
import { formatPath, type KeyPath, type PositionIndex } from './locate.js';

/** `FILE:LINE:COL: key.path: message`, leaving out what is unknown; warnings say so. */
export function formatProblem(p: ConfigProblem): string {
  let out = p.file;
  if (p.line !== undefined) out += `:${p.line}` + (p.column !== undefined ? `:${p.column}` : '');
  out += ': ';
  if (p.path !== '') out += `${p.path}: `;
  if (p.severity === 'warning') out += 'warning: ';
  return out + p.message;
}

/** Collects problems for one file; sorts them into reading order at the end. */
export class ProblemList {
  readonly #items: ConfigProblem[] = [];
  #errors = 0;

  constructor(
    readonly file: string,
    private readonly index?: PositionIndex,
  ) {}

  error(path: KeyPath, message: string): void {
    this.#add(path, message, 'error');
  }

  warn(path: KeyPath, message: string): void {
    this.#add(path, message, 'warning');
  }

  get errorCount(): number {
    return this.#errors;
  }

  /** Errors and warnings, by position; problems without one keep their order at the end. */
  sorted(): ConfigProblem[] {
    return this.#items
      .map((p, seq) => ({ p, seq }))
      .sort((a, b) => {
        const la = a.p.line ?? Infinity;
        const lb = b.p.line ?? Infinity;
        if (la !== lb) return la - lb;
        const ca = a.p.column ?? 0;
        const cb = b.p.column ?? 0;
        return ca !== cb ? ca - cb : a.seq - b.seq;
      })
      .map(({ p }) => p);
  }

  #add(path: KeyPath, message: string, severity: 'error' | 'warning'): void {
    const pos = this.index?.locate(path);
    this.#items.push({
      file: this.file,
      path: formatPath(path),
      message,
      ...(pos === undefined ? {} : { line: pos.line, column: pos.column }),
      ...(severity === 'warning' ? { severity } : {}),
    });
    if (severity === 'error') this.#errors++;
  }
}
