/**
 * The operator tool's `--directory DIR` opens the folder store that `npm start -- --directory DIR` serves
 * (docs/operations.md, docs/embedded-store.md), and refuses it while a server holds the folder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack } from '../../lib/local/stack';
import { send } from '../support/http';
import { multipart } from '../support/multipart';
import { runTool } from '../support/old-fileserver';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'operator-directory-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

it('counts what npm start stored in the folder, and refuses the folder while the server runs', async () => {
  const directory = join(root, 'store');
  const stack = await startLocalStack({ port: 0, directory });
  try {
    const { body, contentType } = multipart([{ name: 'main.c', data: 'int main;\n', filename: 'main.c' }]);
    const answer = await send(stack.url, 'POST', '/submissions/op_dir', {
      headers: { 'Content-Type': contentType },
      body,
    });
    expect(answer.status).toBe(200);
    await stack.notificationsIdle();
    const busy = await runTool(['stats', '--directory', directory, '--json']);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain('in use by process');
  } finally {
    await stack.close();
  }
  const run = await runTool(['stats', '--directory', directory, '--json']);
  expect(run.code).toBe(0);
  const report = run.json<{ submissions: number; archives: { current: number } }>();
  expect(report.submissions).toBe(1);
  expect(report.archives.current).toBe(1);
});
