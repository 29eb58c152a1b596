/**
 * `migrate` copies what the old folder holds, counts each file once, and never stores bytes that never existed
 * (docs/operations.md, "Idempotent and resumable" and "A file that changes during its copy"). A file is rewritten
 * in place while the tool reads it, as a worker's result is rewritten on a live old fileserver: the store is wrapped
 * so that the rewrite happens at a known point of the copy (after the upload has taken its first bytes), which is
 * the fault; the store itself is the real one of the project.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { submissionFileKey } from '../../lib/fileserver/keys';
import { type ObjectStore, putObject, store, useStore } from '../../lib/storage/store';
import { send } from '../support/http';
import { runTool } from '../support/old-fileserver';
import { startTestStack, type TestStack } from '../support/stack';
import { followRedirect } from '../support/uploads';
import { readZip } from '../support/zip';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;

let stack: TestStack;
let old: string;
let real: ObjectStore;
beforeAll(async () => {
  stack = await startTestStack();
  real = store();
});
beforeEach(() => {
  old = mkdtempSync(join(tmpdir(), 'old-fileserver-copy-'));
});
afterEach(() => {
  useStore(real);
  rmSync(old, { recursive: true, force: true });
});
afterAll(async () => {
  await stack?.close();
});

function write(path: string, data: Buffer | string): string {
  const absolute = join(old, path);
  mkdirSync(dirname(absolute), { recursive: true });
  writeFileSync(absolute, data);
  return absolute;
}

/** Bytes of one value, so that a mix of two versions is told from either. */
const filled = (size: number, byte: number): Buffer => Buffer.alloc(size, byte);

/**
 * The real store, except that each of the first `times` streamed uploads to a key ending in `suffix` rewrites `file`
 * in place (same size, other bytes) once the upload has taken its first chunk: the rest of the upload reads the new
 * bytes.
 */
function rewriteDuringUpload(suffix: string, file: string, size: number, times: number): { rewrites: () => number } {
  let rewrites = 0;
  const wrapped = new Proxy(real, {
    get(target, property) {
      if (property === 'uploadStream') {
        return (key: string, body: Readable, options: Parameters<ObjectStore['uploadStream']>[2]) => {
          if (!key.endsWith(suffix) || rewrites >= times) return target.uploadStream(key, body, options);
          rewrites++;
          const version = rewrites;
          let first = true;
          const tapped = new PassThrough();
          body.on('data', (chunk: Buffer) => {
            tapped.write(chunk);
            if (first) {
              first = false;
              writeFileSync(file, filled(size, 0x40 + version));
            }
          });
          body.on('end', () => tapped.end());
          body.on('error', (err) => tapped.destroy(err));
          return target.uploadStream(key, tapped, options);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  useStore(wrapped);
  return { rewrites: () => rewrites };
}

async function download(path: string): Promise<{ status: number; body: Buffer }> {
  const answer = await send(stack.url, 'GET', path);
  if (answer.status !== 302) return answer;
  return followRedirect(answer, stack.s3Endpoint);
}

interface Report {
  folder: { files: number; bytes: number };
  totals: Record<'copied' | 'skipped' | 'refused' | 'failed', { items: number; files: number; bytes: number }>;
  failed: { path: string; reason: string }[];
}

describe('a file that changes during its copy', () => {
  it('is copied again, and the bucket holds it as it is after the change', async () => {
    const size = 6 * MiB; // above one 5 MiB part: streamed, as a 40 MiB result is
    const file = write('results/live.zip', filled(size, 0x20));
    const fault = rewriteDuringUpload('results/live.zip', file, size, 1);
    const run = await runTool(['migrate', '--from', old, '--json']);
    expect(fault.rewrites()).toBe(1);
    expect(run.json<Report>().failed).toEqual([]);
    expect(run.code).toBe(0);
    const stored = await download('/results/live.zip');
    expect(stored.status).toBe(200);
    expect(stored.body.equals(filled(size, 0x41))).toBe(true);
  });

  it('read whole (up to 5 MiB) and changed before its write: read again, never written as it was read', async () => {
    const file = write('attachments/small_live', filled(1000, 0x20));
    let rewrites = 0;
    // The copy asks the bucket what it holds between reading the file and writing it: the file changes then.
    useStore(
      new Proxy(real, {
        get(target, property) {
          if (property === 'headObject') {
            return async (key: string) => {
              if (key === 'attachments/small_live' && rewrites === 0) {
                rewrites++;
                writeFileSync(file, filled(1000, 0x41));
              }
              return target.headObject(key);
            };
          }
          const value = Reflect.get(target, property, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }),
    );
    const run = await runTool(['migrate', '--from', old, '--json']);
    expect(rewrites).toBe(1);
    expect(run.code).toBe(0);
    const stored = await download('/attachments/small_live');
    expect(stored.body.equals(filled(1000, 0x41))).toBe(true);
  });

  it('that keeps changing is reported failed, exit 1, and nothing of it is stored', async () => {
    const size = 6 * MiB;
    const file = write('results/busy.zip', filled(size, 0x20));
    const fault = rewriteDuringUpload('results/busy.zip', file, size, Number.POSITIVE_INFINITY);
    const run = await runTool(['migrate', '--from', old, '--json']);
    expect(fault.rewrites()).toBe(3);
    const report = run.json<Report>();
    expect(report.failed).toEqual([
      expect.objectContaining({
        path: 'results/busy.zip',
        reason: expect.stringContaining('changed while it was being copied'),
      }),
    ]);
    expect(report.totals.copied.items).toBe(0);
    expect(run.code).toBe(1);
    expect(await stack.exists('results/busy.zip')).toBe(false);
  });

  it('in a submission: the submission is failed and stays invisible (no manifest), its changed file not stored', async () => {
    const size = 6 * MiB;
    write('submissions/live_sub/job-config.yml', 'x: 1\n');
    const file = write('submissions/live_sub/data/big.bin', filled(size, 0x20));
    const fault = rewriteDuringUpload('/data/big.bin', file, size, Number.POSITIVE_INFINITY);
    const run = await runTool(['migrate', '--from', old, '--json']);
    expect(fault.rewrites()).toBe(3);
    const report = run.json<Report>();
    expect(report.failed.map((f) => [f.path, f.reason])).toEqual([
      ['submissions/live_sub', expect.stringMatching(/^data\/big\.bin: it changed while it was being copied/)],
    ]);
    expect(run.code).toBe(1);
    expect(await stack.exists('manifests/live_sub.json')).toBe(false);
    expect((await stack.keys()).filter((key) => key.endsWith('/data/big.bin'))).toEqual([]);
    expect((await send(stack.url, 'GET', '/submission_archives/live_sub.zip')).status).toBe(404);

    // Once nothing writes it any more, a new run copies it whole.
    useStore(real);
    const again = await runTool(['migrate', '--from', old, '--json']);
    expect(again.code).toBe(0);
    await stack.notificationsIdle();
    const archive = await download('/submission_archives/live_sub.zip');
    const entries = await readZip(archive.body);
    expect(entries.find((entry) => entry.name === 'live_sub/data/big.bin')?.data.equals(filled(size, 0x43))).toBe(true);
  });
});

describe('every file of the folder counts once, as copied, skipped, refused or failed', () => {
  it('files a killed run stored before its submission’s manifest count as skipped, and the totals add up', async () => {
    write('submissions/resumed/a.c', 'a\n');
    write('submissions/resumed/b.c', 'b\n');
    write('submissions/resumed/c.c', 'c\n');
    write('results/resumed.zip', 'result\n');
    // What a run killed in the middle of this submission leaves: two of its files at their keys, no manifest.
    await putObject(submissionFileKey('resumed', 'a.c'), Buffer.from('a\n'), { createOnly: true });
    await putObject(submissionFileKey('resumed', 'b.c'), Buffer.from('b\n'), { createOnly: true });

    const run = await runTool(['migrate', '--from', old, '--json']);
    expect(run.code).toBe(0);
    const report = run.json<Report>();
    expect(report.folder).toEqual({ files: 4, bytes: 13 });
    expect(report.totals.copied).toEqual({ items: 2, files: 2, bytes: 9 }); // c.c and the result
    expect(report.totals.skipped).toEqual({ items: 0, files: 2, bytes: 4 }); // a.c and b.c
    const counted = Object.values(report.totals).reduce((sum, t) => sum + t.files, 0);
    expect(counted).toBe(report.folder.files);

    // The summary's totals line says the same.
    write('submissions/resumed/d.c', 'd\n');
    const rerun = await runTool(['migrate', '--from', old]);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toMatch(/copied 1 files \(2 B\)/);
    expect(rerun.stdout).toMatch(/^5 files \(15 B\) in /m);
  });
});
