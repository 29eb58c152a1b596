/**
 * `npm start` as a user runs it: options, the flat layout, Basic auth, and what happens to storage on Ctrl-C.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli } from '../support/cli';
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3 } from '../support/embedded-s3';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';
import { readZip } from '../support/zip';

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function postSubmission(url: string, id: string, headers: Record<string, string> = {}) {
  const { body, contentType } = multipart([
    file('main.c', 'int x;'),
    file('sub/dir/x.txt', 'x'),
    file('job-config.yml', 'c'),
  ]);
  return send(url, 'POST', `/submissions/${id}`, { body, headers: { 'Content-Type': contentType, ...headers } });
}

it('--layout flat puts the files at the root of the archive', async () => {
  const server = await startCli(['--layout', 'flat']);
  try {
    expect((await postSubmission(server.url, 'student_flat')).status).toBe(200);
    const zip = await send(server.url, 'GET', '/submission_archives/student_flat.zip');
    expect((await readZip(zip.body)).map((e) => [e.name, e.data.toString()])).toEqual([
      ['job-config.yml', 'c'],
      ['main.c', 'int x;'],
      ['sub/dir/x.txt', 'x'],
    ]);
  } finally {
    await server.stop();
  }
});

it('with credentials, refuses missing or wrong ones with 401 and writes nothing', async () => {
  const server = await startCli(['--username', 're'], { FILESERVER_PASSWORD: 'codex' });
  try {
    const refused: Record<string, string>[] = [
      {},
      { Authorization: basic('re', 'wrong') },
      { Authorization: 'Bearer abc' },
    ];
    for (const headers of refused) {
      const answer = await postSubmission(server.url, 'student_auth', headers);
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe('Basic realm="ReCodEx fileserver"');
      expect(answer.json()).toMatchObject({ result: 'ERROR', error: { code: 'unauthorized' } });
      const put = await send(server.url, 'PUT', '/results/student_auth.zip', { body: 'x', headers });
      expect(put.status).toBe(401);
    }
    const auth = { Authorization: basic('re', 'codex') };
    // Nothing was written by the refused requests:
    expect((await send(server.url, 'GET', '/submission_archives/student_auth.zip', { headers: auth })).status).toBe(
      404,
    );
    expect((await send(server.url, 'GET', '/results/student_auth.zip', { headers: auth })).status).toBe(404);
    expect((await postSubmission(server.url, 'student_auth', auth)).status).toBe(200);
    expect((await send(server.url, 'GET', '/', { headers: auth })).status).toBe(200);
    expect((await send(server.url, 'GET', '/')).status).toBe(401);
  } finally {
    await server.stop();
  }
});

it('deletes its temporary storage on Ctrl-C, and keeps --directory across runs', async () => {
  const first = await startCli([]);
  const folder = /folder (\S+) \(deleted on exit\)/.exec(first.output())?.[1];
  const existedWhileRunning = folder !== undefined && existsSync(folder);
  expect(await first.stop()).toBe(0);
  expect(existedWhileRunning).toBe(true);
  expect(existsSync(folder as string)).toBe(false);

  const directory = await mkdtemp(join(tmpdir(), 'fileserver-cli-test-'));
  try {
    const run1 = await startCli(['--directory', directory]);
    await send(run1.url, 'PUT', '/results/kept.zip', { body: 'kept across runs' });
    expect(await run1.stop()).toBe(0);
    const run2 = await startCli(['--directory', directory]);
    const answer = await send(run2.url, 'GET', '/results/kept.zip').finally(() => run2.stop());
    expect(answer.body.toString()).toBe('kept across runs');
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

it('refuses a bad option value with a clear message', async () => {
  await expect(startCli(['--layout', 'sideways'])).rejects.toThrow(/ARCHIVE_LAYOUT must be one of prefixed, flat/);
});

it('refuses an option it does not have, such as --workers (one process serves), and points to --help', async () => {
  const refused = startCli(['--workers', '2']);
  await expect(refused).rejects.toThrow(/exited with 1 before listening/);
  await expect(refused).rejects.toThrow("Unknown option '--workers'. `npm start -- --help` lists the options.");
});

it('refuses a --directory that another running server holds, and leaves that server serving', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'fileserver-cli-held-'));
  try {
    const first = await startCli(['--directory', directory]);
    try {
      const second = startCli(['--directory', directory]);
      await expect(second).rejects.toThrow(/exited with 1 before listening/);
      await expect(second).rejects.toThrow(`The storage folder ${directory} is in use by process `);
      expect((await send(first.url, 'PUT', '/results/held.zip', { body: 'still serving' })).status).toBe(200);
    } finally {
      expect(await first.stop()).toBe(0);
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

it('on a file system with no free inodes, says so and stops; nothing stored is lost, and it starts once there are', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'fileserver-cli-inodes-'));
  try {
    const first = await startCli(['--directory', directory]);
    try {
      expect((await postSubmission(first.url, 'kept')).status).toBe(200);
    } finally {
      expect(await first.stop()).toBe(0);
    }
    // The inodes are used up (test/support/no-free-inodes.js): taking the folder creates its lock file, and fails.
    const full = startCli(['--directory', directory], {
      NODE_OPTIONS: `--openssl-legacy-provider --require ${join(__dirname, '../support/no-free-inodes.js')}`,
      NO_FREE_INODES_UNDER: directory,
    });
    await expect(full).rejects.toThrow(/exited with 1 before listening/);
    await expect(full).rejects.toThrow(
      `The storage folder ${directory} cannot be opened: there are no free inodes on its file system`,
    );
    await expect(full).rejects.toThrow('nothing stored in the folder was changed');
    // Once there are, it starts on the same folder and serves what it held.
    const again = await startCli(['--directory', directory]);
    try {
      const zip = await send(again.url, 'GET', '/submission_archives/kept.zip');
      expect(zip.status).toBe(200);
      expect((await readZip(zip.body)).map((e) => [e.name, e.data.toString()])).toEqual([
        ['kept/job-config.yml', 'c'],
        ['kept/main.c', 'int x;'],
        ['kept/sub/dir/x.txt', 'x'],
      ]);
    } finally {
      expect(await again.stop()).toBe(0);
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

it('with S3_ENDPOINT, fails at start on a BUCKET the endpoint does not have, saying how to create it', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'fileserver-cli-s3-'));
  const s3 = await startEmbeddedS3({ directory, bucket: 'another-bucket' });
  const env = {
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
  };
  try {
    const refused = startCli([], { ...env, BUCKET: 'not-created-yet' });
    await expect(refused).rejects.toThrow(/exited with 1 before listening/);
    await expect(refused).rejects.toThrow(`BUCKET not-created-yet does not exist at S3_ENDPOINT ${s3.endpoint}`);
    await expect(refused).rejects.toThrow(/npm run localstack:host -- start.*s3 mb s3:\/\/not-created-yet/);
    // The bucket that is there starts as before.
    const server = await startCli([], { ...env, BUCKET: 'another-bucket' });
    try {
      expect(server.output()).toContain(`storage: bucket another-bucket on S3 endpoint ${s3.endpoint}`);
      expect((await send(server.url, 'GET', '/')).status).toBe(200);
    } finally {
      await server.stop();
    }
  } finally {
    await s3.close();
    await rm(directory, { recursive: true, force: true });
  }
});

describe('the password never goes on the command line, where ps and npm show it', () => {
  const secret = 'cli-secret-Zq9';

  it('refuses --password, without printing its value', async () => {
    const refused = startCli(['--username', 're', '--password', secret]);
    await expect(refused).rejects.toThrow(/--password is not taken on the command line/);
    await expect(refused).rejects.not.toThrow(secret);
    const inline = startCli(['--username', 're', `--password=${secret}`]);
    await expect(inline).rejects.toThrow(/FILESERVER_PASSWORD or --password-file/);
    await expect(inline).rejects.not.toThrow(secret);
  });

  it('takes it from FILESERVER_PASSWORD or from --password-file, and never prints it', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'fileserver-cli-password-'));
    const passwordFile = join(directory, 'password');
    await writeFile(passwordFile, `${secret}\n`);
    try {
      for (const [args, env] of [
        [['--username', 're'], { FILESERVER_PASSWORD: secret }],
        [['--username', 're', '--password-file', passwordFile], {}],
      ] as const) {
        const server = await startCli([...args], env);
        try {
          const auth = { Authorization: basic('re', secret) };
          expect((await send(server.url, 'GET', '/', { headers: auth })).status).toBe(200);
          expect((await send(server.url, 'GET', '/')).status).toBe(401);
          expect(server.output()).not.toContain(secret);
        } finally {
          await server.stop();
        }
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
