// An in-process balancer for tests: the real config parser, validator and runtime, with
// logs captured in memory. Ports come from the OS (bind 127.0.0.1:0 in the TOML).
import type { Test } from 'tap';
import { parseConfigText } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/validate.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { LogCapture } from './log-capture.js';

export interface TestLb {
  runtime: Runtime;
  logs: LogCapture;
  /** The OS-chosen port of listener `name`. */
  port(name: string): number;
}

/**
 * The data path the in-process balancers of this test process run on: LB_TEST_DATAPATH
 * (test/datapaths/*.test.ts set it to run the behaviour suites on each path), else the
 * config's own (auto: native where the addons loaded).
 */
export const TEST_DATAPATH = process.env['LB_TEST_DATAPATH'] as 'native' | 'portable' | undefined;

/** `toml` with [global] datapath set to TEST_DATAPATH, when that is set. */
function withTestDatapath(toml: string): string {
  if (TEST_DATAPATH === undefined) return toml;
  const line = `datapath = "${TEST_DATAPATH}"`;
  return /^\[global\][ \t]*$/m.test(toml) ? toml.replace(/^\[global\][ \t]*$/m, `[global]\n${line}`) : `[global]\n${line}\n${toml}`;
}

export async function startLb(t: Test, toml: string, opts: { configFile?: string } = {}): Promise<TestLb> {
  const loaded = parseConfigText(withTestDatapath(toml), 'test.toml');
  if (!loaded.ok) throw new Error('test config invalid:\n' + loaded.problems.map(formatProblem).join('\n'));
  const logs = new LogCapture();
  const runtime = new Runtime(loaded.config, logs.logger('debug'), { configFile: opts.configFile ?? null });
  await runtime.start();
  t.teardown(() => runtime.stop(0));
  if (TEST_DATAPATH !== undefined) {
    for (const l of runtime.listeners.values()) {
      const dp = (l as { datapath?: string }).datapath;
      if (l.protocol !== 'http' && dp !== TEST_DATAPATH) throw new Error(`listener ${l.name} runs on ${String(dp)}, not ${TEST_DATAPATH}`);
    }
  }
  return {
    runtime,
    logs,
    port(name: string): number {
      const l = runtime.listeners.get(name);
      if (!l) throw new Error(`no listener ${name}`);
      const b = l.boundAddress();
      return Number(b.slice(b.lastIndexOf(':') + 1));
    },
  };
}

/** A one-listener, one-pool config around `backends` (ports on 127.0.0.1). */
export function simpleConfig(
  ports: readonly number[],
  opts: { listener?: string; pool?: string; global?: string } = {},
): string {
  return `[global]
drain_timeout = "1s"
${opts.global ?? ''}
[listeners.front]
bind = "127.0.0.1:0"
pool = "p"
${opts.listener ?? ''}
[pools.p]
${opts.pool ?? ''}
backends = [
${ports.map((p) => `  { address = "127.0.0.1:${p}" },`).join('\n')}
]
`;
}
