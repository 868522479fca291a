// `lb check -c FILE`: validate without binding anything, like `nginx -t` / `haproxy -c`.
// Prints every problem as FILE:LINE:COL: key.path: message; exit 0 valid, 2 invalid.
import { loadConfigFile } from '../config/load.js';
import { formatProblem, summarize } from '../config/validate.js';

export function checkCommand(opts: { config: string }): number {
  const result = loadConfigFile(opts.config);
  if (!result.ok) {
    for (const p of result.problems) process.stderr.write(formatProblem(p) + '\n');
    process.stderr.write(`${opts.config}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}\n`);
    return 2;
  }
  for (const w of result.warnings) process.stderr.write(formatProblem(w) + '\n');
  process.stdout.write(summarize(result.config) + '\n');
  return 0;
}
