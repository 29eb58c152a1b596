/**
 * Clients that race (issue 8), through real HTTP to the local server over the embedded S3 server, with its S3
 * notifications driving the archiver as in AWS. s3rver ignores `If-None-Match`, so "one object" is checked as the
 * set of keys under `tasks/` being exactly one key with the right bytes (LocalStack's S3, which honours it, checks
 * the single version: test/localstack/faithful-s3.test.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { file, multipart } from '../support/multipart';
import { startTestStack, type TestStack } from '../support/stack';
import { createTally } from './support/tally';

const tally = createTally('concurrency');
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  tally.write();
  await stack?.close();
});

const sha1 = (data: Buffer | string): string => createHash('sha1').update(data).digest('hex');

it('50 parallel POSTs of the same exercise content: all 200, one object, the right bytes', async () => {
  const data = randomBytes(50_000);
  const hash = sha1(data);
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) => {
      const { body, contentType } = multipart([file(`copy${i}.bin`, data)]);
      return tally.send(stack.url, 'POST', i % 2 ? '/exercises' : '/tasks', {
        body,
        headers: { 'Content-Type': contentType },
      });
    }),
  );
  expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
  answers.forEach((answer, i) => {
    expect(answer.json()).toEqual({ result: 'OK', files: { [`copy${i}.bin`]: `/exercises/${hash}` } });
  });
  expect((await stack.keys()).filter((key) => key.startsWith('tasks/'))).toEqual([`tasks/${hash[0]}/${hash}`]);
  tally.expectKept(await stack.exists(`tasks/${hash[0]}/${hash}`));
  tally.expectBytes(await stack.storedBytes(`tasks/${hash[0]}/${hash}`), data);
  tally.expectBytes((await tally.send(stack.url, 'GET', `/exercises/${hash}`)).body, data);
});

it('20 parallel PUTs of different bodies to one result: the stored bytes are exactly one of the bodies', async () => {
  const bodies = Array.from({ length: 20 }, (_, i) => Buffer.concat([Buffer.from(`body ${i}:`), randomBytes(100_000)]));
  const answers = await Promise.all(bodies.map((body) => tally.send(stack.url, 'PUT', '/results/raced.zip', { body })));
  expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(200));
  const stored = await stack.storedBytes('results/raced.zip');
  tally.expectKept(await stack.exists('results/raced.zip'));
  const winners = bodies.filter((body) => body.equals(stored));
  tally.figures.readsChecked++;
  if (winners.length !== 1) tally.figures.corruptedReads++;
  expect(winners).toHaveLength(1);
  tally.expectBytes((await tally.send(stack.url, 'GET', '/results/raced.zip')).body, winners[0] ?? Buffer.alloc(0));
});

it('50 parallel submissions with distinct ids: 50 correct archives', async () => {
  const submissions = Array.from({ length: 50 }, (_, i) => {
    const id = `student_parallel_${i}`;
    const files: Record<string, Buffer> = {
      'main.c': Buffer.from(`int main(void) { return ${i}; }\n`),
      'lib/data.bin': randomBytes(20_000 + i),
      'job-config.yml': Buffer.from(`submission:\n  job-id: ${id}\n`),
    };
    return { id, files };
  });
  const answers = await Promise.all(
    submissions.map(({ id, files }) => {
      const { body, contentType } = multipart(Object.entries(files).map(([path, data]) => file(path, data)));
      return tally.send(stack.url, 'POST', `/submissions/${id}`, { body, headers: { 'Content-Type': contentType } });
    }),
  );
  expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
  // The archives are built by the archiver from the manifests' notifications; wait for those builds, then read.
  await stack.notificationsIdle();
  const keys = new Set(await stack.keys());
  for (const { id } of submissions) expect(keys.has(`submission_archives/${id}.zip`)).toBe(true);
  const archives = await Promise.all(
    submissions.map(({ id }) => tally.send(stack.url, 'GET', `/submission_archives/${id}.zip`)),
  );
  for (const [i, { id, files }] of submissions.entries()) {
    const answer = archives[i];
    expect(answer?.status).toBe(200);
    await tally.expectArchive(answer?.body ?? Buffer.alloc(0), id, files);
  }
});
