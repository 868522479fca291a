// A protocol health check's one connection: connect, then a dialogue driven by the check's
// `step` (called with every byte received so far, it writes requests and returns the verdict
// once it has one), then the protocol's own goodbye (PostgreSQL Terminate, COM_QUIT, QUIT)
// and a FIN, so that the server logs a clean disconnect and not an aborted connection (MySQL
// counts those against lb's host up to max_connect_errors). The verdict resolves at once; the
// socket then has a short grace to see the server's FIN before it is destroyed. Bounded in
// time (`timeoutMs` for the whole dialogue) and in memory (a reply longer than REPLY_MAX
// fails). Resolves, never rejects; the socket and timers are released on every path.
import net from 'node:net';
import { probeEnd, type ProbeResult } from './probe.js';

/** The most reply bytes one check holds (a server that sends more fails the check). */
export const REPLY_MAX = 64 * 1024;
/** How long a check's socket waits for the server's FIN after the goodbye. */
const GOODBYE_GRACE_MS = 1000;

export interface Verdict {
  readonly ok: boolean;
  readonly detail: string;
  /** What the server reported about its role, when the check asked. */
  readonly role?: Role;
  /** Utilization 0.0–1.0 the server reported, when the check asked. */
  readonly utilization?: number;
  /** What an agent (HAProxy's agent-check protocol) said. */
  readonly agent?: AgentWords;
}

/** An agent's reply: a weight percentage, a state, a health word; each when it was said. */
export interface AgentWords {
  readonly weightPercent?: number;
  readonly state?: 'ready' | 'drain' | 'maint';
  readonly down?: boolean;
}

export interface Dialogue {
  /** Bytes to write once connected (may be empty). */
  readonly hello: Buffer;
  /** Written before the FIN once there is a verdict, pass or fail: the protocol's clean end. */
  readonly goodbye: Buffer;
  /**
   * Called with all bytes received so far; may call `write`; returns a verdict when the
   * dialogue is over, or null to wait for more. A check with more bytes than it understands
   * returns a failing verdict; it never throws on what the server sends.
   */
  step(received: Buffer, write: (b: Buffer) => void): Verdict | null | Promise<Verdict | null>;
  /** The server closed before a verdict: the verdict the bytes so far make, or null (a failure). */
  atEnd?(received: Buffer): Verdict | null;
}

export interface ConversationTarget {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** Source address of the check's connection (the OS picks one when unset). */
  readonly localAddress?: string;
}

export type CheckResult = ProbeResult & { readonly role?: Role; readonly utilization?: number; readonly agent?: AgentWords };

export function converse(target: ConversationTarget, dialogue: Dialogue, signal?: AbortSignal): Promise<CheckResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let received: Buffer = Buffer.alloc(0);
    let verdict: Verdict | null = null;
    let busy = false;
    const socket = net.connect({ host: target.host, port: target.port, noDelay: true, ...(target.localAddress === undefined ? {} : { localAddress: target.localAddress }) });
    const release = (): void => {
      // The goodbye of a dialogue that reached a verdict, then a FIN; a timeout or error is cut now.
      if (verdict === null || socket.destroyed || !socket.writable) {
        socket.destroy();
        return;
      }
      socket.end(dialogue.goodbye);
      const grace = setTimeout(() => socket.destroy(), GOODBYE_GRACE_MS);
      socket.once('close', () => clearTimeout(grace));
      socket.resume();
    };
    const finish = probeEnd(started, target.timeoutMs, 'timeout', signal, release, (r) => {
      const v: Verdict | null = verdict;
      resolve(
        v === null
          ? r
          : { ...r, ...(v.role === undefined ? {} : { role: v.role }), ...(v.utilization === undefined ? {} : { utilization: v.utilization }), ...(v.agent === undefined ? {} : { agent: v.agent }) },
      );
    });
    const decide = (v: Verdict): void => {
      verdict = v;
      finish(v.ok, v.detail);
    };
    const write = (b: Buffer): void => {
      if (verdict === null && !socket.destroyed) socket.write(b);
    };
    const advance = async (): Promise<void> => {
      if (busy || verdict !== null) return;
      busy = true;
      try {
        // A step may await (SCRAM's key derivation); bytes that came meanwhile are stepped after.
        for (let seen = -1; seen !== received.length && verdict === null; ) {
          seen = received.length;
          const v = await dialogue.step(received, write);
          if (v !== null) decide(v);
        }
      } catch (err) {
        decide({ ok: false, detail: `check error: ${(err as Error).message}` });
      } finally {
        busy = false;
      }
    };
    socket.on('error', (err: NodeJS.ErrnoException) => finish(false, '', err));
    socket.on('connect', () => {
      if (dialogue.hello.length > 0) socket.write(dialogue.hello);
    });
    socket.on('data', (chunk: Buffer) => {
      if (verdict !== null) return;
      if (received.length + chunk.length > REPLY_MAX) {
        decide({ ok: false, detail: `reply longer than ${REPLY_MAX} bytes` });
        return;
      }
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      void advance();
    });
    socket.on('end', () => {
      const last = verdict === null && !busy ? (dialogue.atEnd?.(received) ?? null) : null;
      if (last !== null) decide(last);
      else finish(false, received.length === 0 ? 'closed without reply' : 'closed mid-reply');
    });
    socket.on('close', () => finish(false, 'closed'));
  });
}

/** A verdict for a server's refusal or a reply lb cannot read. */
export function failed(detail: string): Verdict {
  return { ok: false, detail };
}

export type Role = 'primary' | 'replica';
export type WantRole = 'any' | Role;

/** The end of a dialogue that read the server's role: pass unless it is wrong ("role replica, want primary"). */
export function roleVerdict(want: WantRole, role: Role | undefined, utilization?: number): Verdict {
  const extra = { ...(role === undefined ? {} : { role }), ...(utilization === undefined ? {} : { utilization }) };
  if (want !== 'any' && role !== want) return { ok: false, detail: `role ${role ?? 'unknown'}, want ${want}`, ...extra };
  return { ok: true, detail: role === undefined ? 'ok' : `ok (${role})`, ...extra };
}
