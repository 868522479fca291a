// Entry used by bin/lb: builds the CLI and maps outcomes to exit codes
// (0 ok; 1 fatal runtime error or unreachable admin; 2 bad config or usage).
import { Command, CommanderError, Option } from 'commander';
import { runCommand } from './cli/run.js';
import { checkCommand } from './cli/check.js';
import { demoCommand } from './cli/demo.js';
import { statusCommand } from './cli/status.js';

import { VERSION } from './version.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('lb')
    .description('Layer-4 TCP/UDP load balancer')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('run')
    .description('run the balancer in the foreground until SIGTERM/SIGINT (SIGHUP reloads)')
    .option('-c, --config <file>', 'config file', './lb.toml')
    .option('--pretty', 'human-readable logs instead of JSON lines', false)
    .action(async (o: { config: string; pretty: boolean }) => {
      process.exitCode = await runCommand(o);
    });

  program
    .command('check')
    .description('validate a config file without binding anything (exit 0 valid, 2 invalid)')
    .option('-c, --config <file>', 'config file', './lb.toml')
    .action((o: { config: string }) => {
      process.exitCode = checkCommand(o);
    });

  program
    .command('demo')
    .description('start local echo backends and a balancer, send traffic, show a live table')
    .addOption(new Option('--duration <seconds>', 'stop by itself after this many seconds').argParser(parseSeconds))
    .action(async (o: { duration?: number }) => {
      process.exitCode = await demoCommand(o);
    });

  program
    .command('status')
    .description("print the running balancer's /status as tables (needs [admin] in its config)")
    .option('--admin <host:port>', 'admin API address', '127.0.0.1:9090')
    .action(async (o: { admin: string }) => {
      process.exitCode = await statusCommand(o);
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      process.exit(ok ? 0 : 2);
    }
    throw err;
  }
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new CommanderError(2, 'lb.usage', `--duration: expected a positive number of seconds (got "${v}")`);
  return n;
}
