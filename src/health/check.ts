// Which check a [health] section means, run against one backend: `tcp` is the connect probe
// (plus send/expect); postgres, mysql, redis and http are one conversation each (see
// conversation.ts), built fresh per check from the section as it is now, so that a reload
// that changes the type, the role or the password applies from the next check on.
import type { HealthConfig } from '../config/types.js';
import type { Backend } from '../pool/backend.js';
import { converse, type CheckResult, type Dialogue } from './conversation.js';
import { httpDialogue } from './checks/http.js';
import { mysqlDialogue } from './checks/mysql.js';
import { postgresDialogue } from './checks/postgres.js';
import { redisDialogue } from './checks/redis.js';
import { tcpProbe } from './probe.js';

/** The dialogue of a protocol check (any type but tcp). */
export function dialogueOf(cfg: HealthConfig, host: string, port: number, load: boolean): Dialogue {
  const password = cfg.password?.reveal();
  const wantRole = cfg.requireRole;
  switch (cfg.type) {
    case 'postgres':
      return postgresDialogue({ user: cfg.user ?? '', ...(password === undefined ? {} : { password }), database: cfg.database, wantRole, load });
    case 'mysql':
      return mysqlDialogue({ user: cfg.user ?? '', ...(password === undefined ? {} : { password }), wantRole, load });
    case 'redis':
      return redisDialogue({ ...(cfg.user === undefined ? {} : { user: cfg.user }), ...(password === undefined ? {} : { password }), wantRole, load });
    case 'http':
      return httpDialogue({ host, port, path: cfg.path, expectStatus: cfg.expectStatus });
    case 'tcp':
      throw new Error('a tcp check is a probe, not a dialogue');
  }
}

/** One check of `b` as its pool's [health] section says; resolves, never rejects. */
export function checkBackend(b: Backend, cfg: HealthConfig, signal: AbortSignal, load = false): Promise<CheckResult> {
  const host = b.address.host;
  const port = cfg.port ?? b.address.port;
  if (cfg.type === 'tcp') return tcpProbe({ host, port, timeoutMs: cfg.timeoutMs, send: cfg.send, expect: cfg.expect }, signal);
  return converse({ host, port, timeoutMs: cfg.timeoutMs }, dialogueOf(cfg, host, port, load), signal);
}
