/**
 * A worker-like client (docs/protocol.md §7): the worker's libcurl follows the 302 of a large exercise file to S3. It
 * must arrive with the bytes, and without the fileserver's Basic credentials: S3 refuses a request that carries an
 * Authorization header next to a presigned query ("Only one auth mechanism allowed"), and the password must not
 * leave for another host. A recording proxy in front of the S3 server shows exactly what reached it.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EMBEDDED_S3_CREDENTIALS, type EmbeddedS3, startEmbeddedS3 } from '../support/embedded-s3';
import { startTestStack, type TestStack } from '../support/stack';

const run = promisify(execFile);
const USER = 're';
const PASSWORD = 'codex';

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

let folder: string;
let s3server: EmbeddedS3 | undefined;
let proxy: Server;
let stack: TestStack;
const seen: SeenRequest[] = [];

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'worker-redirect-'));
  // In front of LocalStack under `npm run test:localstack` (which checks presigned signatures), else of s3rver.
  const external = process.env.S3_ENDPOINT;
  const bucket = process.env.BUCKET ?? 'worker-redirect';
  let endpoint = external;
  if (!endpoint) {
    s3server = await startEmbeddedS3({ directory: join(folder, 's3'), bucket, host: '127.0.0.1' });
    endpoint = s3server.endpoint;
    process.env.AWS_ACCESS_KEY_ID = EMBEDDED_S3_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = EMBEDDED_S3_CREDENTIALS.secretAccessKey;
  }
  const upstream = new URL(endpoint);
  proxy = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  Object.assign(process.env, {
    BUCKET: bucket,
    S3_ENDPOINT: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    FILESERVER_USERNAME: USER,
    FILESERVER_PASSWORD: PASSWORD,
  });
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.close();
  await new Promise<void>((resolve) => proxy?.close(() => resolve()));
  await s3server?.close();
  await rm(folder, { recursive: true, force: true });
});

it('curl --fail --location -u re:codex gets a 65 MiB exercise file from S3, and S3 never sees the credentials', async () => {
  const bytes = randomBytes(65 * 1024 * 1024);
  const sha1 = createHash('sha1').update(bytes).digest('hex');
  const source = join(folder, 'input.bin');
  await writeFile(source, bytes);
  const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

  // Uploaded the way a client uploads a file this large: a presigned PUT from the large-upload route.
  const grant = await fetch(`${stack.url}/uploads/exercises/${sha1}`, {
    method: 'POST',
    headers: { Authorization: auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ size: bytes.length }),
  });
  expect(grant.status).toBe(200);
  const { upload } = (await grant.json()) as { upload: { url: string; headers: Record<string, string> } };
  await run('curl', ['--fail', '--silent', '--show-error', '-T', source, ...headerArgs(upload.headers), upload.url]);

  const target = join(folder, 'downloaded.bin');
  seen.length = 0;
  await run('curl', [
    '--fail',
    '--silent',
    '--show-error',
    '--location',
    '-u',
    `${USER}:${PASSWORD}`,
    '-o',
    target,
    `${stack.url}/exercises/${sha1}`,
  ]);

  const downloaded = await readFile(target);
  expect(downloaded.length).toBe(bytes.length);
  expect(createHash('sha1').update(downloaded).digest('hex')).toBe(sha1);
  // The presigned GET that curl sent after the redirect: signed in its query, with no Authorization header.
  const presigned = seen.filter((r) => r.method === 'GET' && r.url.includes('X-Amz-Signature='));
  expect(presigned).toHaveLength(1);
  expect(presigned[0]?.url).toContain(`/tasks/${sha1[0]}/${sha1}?`);
  expect(presigned[0]?.headers.authorization).toBeUndefined();
  expect(JSON.stringify(seen)).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));

  // HEAD follows its redirect with HEAD: the URL must be signed for HEAD, or S3 refuses it (403).
  const { stdout } = await run('curl', [
    '--fail',
    '--silent',
    '--show-error',
    '--head',
    '--location',
    '-u',
    `${USER}:${PASSWORD}`,
    `${stack.url}/exercises/${sha1}`,
  ]);
  const answers = stdout.split(/\r?\n\r?\n/).filter((block) => block.startsWith('HTTP/'));
  expect(answers.map((block) => block.split(' ')[1])).toEqual(['302', '200']);
  expect(answers[1]).toMatch(new RegExp(`^content-length: ${bytes.length}\\r?$`, 'im'));
});

function headerArgs(headers: Record<string, string>): string[] {
  // curl sets Content-Length itself from the file; every other listed header is sent as given.
  return Object.entries(headers)
    .filter(([name]) => name.toLowerCase() !== 'content-length')
    .flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
}
