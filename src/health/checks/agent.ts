// HAProxy's agent-check protocol: connect to the agent's port, read one line (up to a
// newline, or until the agent closes), split it into words at spaces, tabs and commas, and
// take what lb understands: "75%" scales the backend's weight; "ready", "drain", "maint" set
// its state (drain and maint take no new sessions); "up" and "down" ("fail", "stopped") set
// its health. Anything after "#" is a description; unknown words are ignored, as HAProxy does.
import { failed, type AgentWords, type Dialogue, type Verdict } from '../conversation.js';

/** An agent line longer than this is not an agent's answer. */
const LINE_MAX = 1024;

/** The words of one agent line; null when it holds nothing lb understands. */
export function parseAgentLine(line: string): AgentWords | null {
  const text = line.split('#', 1)[0]!.trim().toLowerCase();
  let weightPercent: number | undefined;
  let state: AgentWords['state'];
  let down: boolean | undefined;
  for (const word of text.split(/[\s,]+/)) {
    const pct = /^(\d{1,3})%$/.exec(word);
    if (pct !== null) {
      const n = Number(pct[1]);
      if (n <= 100) weightPercent = n;
    } else if (word === 'ready' || word === 'drain' || word === 'maint') {
      state = word;
    } else if (word === 'up') {
      down = false;
    } else if (word === 'down' || word === 'fail' || word === 'stopped') {
      down = true;
    }
  }
  if (weightPercent === undefined && state === undefined && down === undefined) return null;
  return { ...(weightPercent === undefined ? {} : { weightPercent }), ...(state === undefined ? {} : { state }), ...(down === undefined ? {} : { down }) };
}

function verdictOf(line: string): Verdict {
  const words = parseAgentLine(line);
  if (words === null) return failed(`agent said nothing lb understands: ${JSON.stringify(line.slice(0, 64))}`);
  return { ok: true, detail: `agent: ${line.trim().slice(0, 64)}`, agent: words };
}

export function agentDialogue(): Dialogue {
  return {
    hello: Buffer.alloc(0),
    goodbye: Buffer.alloc(0),
    step(b): Verdict | null {
      const eol = b.indexOf(0x0a);
      if (eol < 0) return b.length > LINE_MAX ? failed(`agent line longer than ${LINE_MAX} bytes`) : null;
      return verdictOf(b.toString('latin1', 0, eol));
    },
    atEnd(b): Verdict | null {
      return b.length === 0 ? null : verdictOf(b.toString('latin1'));
    },
  };
}
