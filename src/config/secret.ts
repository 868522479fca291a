// A credential from the config (a health check's password): read once per load or reload
// from `password_env` or `password_file`, and never printed. JSON (the /status and /metrics
// paths, pino's serializers) and util.inspect see "[redacted]"; only reveal() gives the text,
// and only the check that sends it calls that.
import { inspect } from 'node:util';

const REDACTED = '[redacted]';

export class Secret {
  readonly #value: string;
  /** Where it came from, for messages: "env LB_PG_PASSWORD" or "file /etc/lb/pg.pass". */
  readonly source: string;

  constructor(value: string, source: string) {
    this.#value = value;
    this.source = source;
  }

  reveal(): string {
    return this.#value;
  }

  /** Two secrets with the same text (a reload that changed nothing). */
  equals(other: Secret | undefined): boolean {
    return other !== undefined && other.#value === this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${this.source})`;
  }
}
