/**
 * `npm run fileserver -- <command>`: the operator tool's entry point (docs/operations.md). The first Ctrl-C lets the
 * work in flight finish and writes the report (exit 130); a second one stops at once. Either way the command can be
 * run again: it skips what is done.
 */
import type { StopSignal } from './io';
import { runOperator } from './main';

const stop: StopSignal = { stopped: false };
process.on('SIGINT', () => {
  if (stop.stopped) process.exit(130);
  stop.stopped = true;
  process.stderr.write('\nStopping after the work in flight (Ctrl-C again to stop now)…\n');
});

runOperator(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }, stop).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fileserver: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
