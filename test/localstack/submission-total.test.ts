/**
 * The submission total (MAX_UPLOAD_BYTES) under concurrency, against a faithful S3 (LocalStack): the manifest write
 * is conditional, and the request that loses the race re-reads the manifest, merges again and checks the bounds
 * again, so two requests that each fit alone cannot both land when together they would not (docs/protocol.md,
 * "Bounds and bad input"). s3rver ignores the conditions, so only LocalStack (or S3) shows this.
 */
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';
import type { TestStack } from '../support/stack';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';
import { startFaithfulStack } from './support/faithful-stack';

jest.setTimeout(120_000);

const MAX_BYTES = 1000;
const ROUNDS = 4;

let stack: TestStack;
beforeAll(async () => {
  process.env.MAX_UPLOAD_BYTES = String(MAX_BYTES);
  stack = await startFaithfulStack();
});
afterAll(async () => {
  await stack?.close();
});

async function manifestTotal(id: string): Promise<number> {
  const manifest = JSON.parse((await stack.storedBytes(`manifests/${id}.json`)).toString()) as {
    files: { size: number }[];
  };
  return manifest.files.reduce((sum, entry) => sum + entry.size, 0);
}

it('two completions of 600 bytes each for one new submission: one lands, the other is 413', async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const id = `race_total_${round}_${Date.now()}`;
    const grants = [];
    for (const path of ['a.bin', 'b.bin']) {
      const answer = await askUpload(stack.url, `submissions/${id}`, { files: { [path]: 600 } });
      expect(answer.status).toBe(200);
      const { upload_id, files } = answer.json<{ upload_id: string; files: Record<string, UploadGrant> }>();
      expect((await putToPresignedUrl(files[path] as UploadGrant, Buffer.alloc(600, 1))).status).toBe(200);
      grants.push({ upload_id, files: { [path]: 600 } });
    }
    const answers = await Promise.all(grants.map((body) => askUpload(stack.url, `submissions/${id}/complete`, body)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 413]);
    const refusal = answers.find((answer) => answer.status === 413);
    expect(refusal?.json()).toMatchObject({ error: { code: 'upload-too-large' } });
    expect(await manifestTotal(id)).toBe(600);
  }
});

it('two multipart POSTs of 600 bytes each to one new id at once: one lands, the other is 413', async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const id = `race_post_${round}_${Date.now()}`;
    const answers = await Promise.all(
      ['a.bin', 'b.bin'].map((path) => {
        const { body, contentType } = multipart([file(path, Buffer.alloc(600, 2))]);
        return send(stack.url, 'POST', `/submissions/${id}`, { headers: { 'Content-Type': contentType }, body });
      }),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 413]);
    expect(await manifestTotal(id)).toBe(600);
  }
});
