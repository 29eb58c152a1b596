/**
 * The README's tour and its large-file example, run as written against `npm start`'s entry point: each block marked
 * `<!-- readme-test: NAME -->` runs in bash with `set -euo pipefail` from the repository's root, and every `# → …`
 * line under a command must be what the block printed. So a reader who copies them gets what the README says.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningServer, startCli } from '../support/cli';

const root = join(__dirname, '../..');

function readmeBlock(name: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const match = new RegExp(`<!-- readme-test: ${name} -->\\n\`\`\`bash\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match?.[1]) throw new Error(`README.md has no bash block marked readme-test: ${name}`);
  return match[1];
}

/** The `# → …` lines of a block: what it says the commands print, in order. */
function promisedOutput(block: string): string[] {
  return [...block.matchAll(/^# → (.*)$/gm)].map((match) => match[1] as string);
}

async function runBash(script: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, output: code === 0 ? output : `${output}\n--- stderr ---\n${errors}` };
}

/** The printed lines, split as a terminal shows them (curl's JSON answers end without a newline). */
function printedLines(output: string): string[] {
  return output
    .replace(/\}(?=[^\s},\]"])/g, '}\n')
    .split('\n')
    .filter((line) => line !== '');
}

describe.each([
  { name: 'tour', args: [] as string[], env: {} as Record<string, string> },
  { name: 'large-files', args: ['--username', 're'], env: { FILESERVER_PASSWORD: 'codex' } },
])('the README block "$name"', ({ name, args, env }) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startCli(args, env);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('runs as written and prints what its # → lines say', async () => {
    const block = readmeBlock(name);
    const promised = promisedOutput(block);
    expect(promised.length).toBeGreaterThan(0);
    const { code, output } = await runBash(block, { F: server.url });
    expect({ code, output }).toEqual({ code: 0, output: expect.any(String) });
    expect(printedLines(output)).toEqual(promised);
  });
});
