/**
 * A storage folder of the old ReCodEx fileserver, made by the test in its layout (docs/operations.md, "The old
 * layout"), with a description of what a migration must do with each entry; and the operator tool run in-process.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Output, StopSignal } from '../../lib/operator/io';
import { runOperator } from '../../lib/operator/main';

const MiB = 1024 * 1024;

export const sha1 = (data: Buffer | string): string => createHash('sha1').update(data).digest('hex');

export interface OldFolder {
  root: string;
  /** Exercise files that must end up served by their hash. */
  exercises: Map<string, Buffer>;
  /** Submissions that must be migrated: id → (path → content). */
  submissions: Map<string, Map<string, Buffer>>;
  results: Map<string, Buffer>;
  attachments: Map<string, Buffer>;
  /** Entries the migration must refuse (paths relative to the folder). */
  refused: string[];
}

/**
 * The fixture the issue asks for: nested submission paths, an empty file, files above the 4 MiB inline limit and
 * above one 5 MiB upload part, exercise files under `exercises/` and the older `tasks/`, a file whose content does not
 * match its hash name, a submission with a path this service refuses, a result name it refuses, an old archive (not
 * copied), results and attachments.
 */
export function makeOldFolder(options: { extraExercises?: number; extraSubmissions?: number } = {}): OldFolder {
  const root = mkdtempSync(join(tmpdir(), 'old-fileserver-'));
  const folder: OldFolder = {
    root,
    exercises: new Map(),
    submissions: new Map(),
    results: new Map(),
    attachments: new Map(),
    refused: [],
  };
  const write = (path: string, data: Buffer | string): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), data);
  };
  const exercise = (data: Buffer, under: 'exercises' | 'tasks' = 'exercises'): void => {
    const hash = sha1(data);
    write(`${under}/${hash[0]}/${hash}`, data);
    folder.exercises.set(hash, data);
  };

  exercise(Buffer.from('1 2 3\n'));
  exercise(Buffer.alloc(0)); // the empty file, da39a3ee…
  exercise(Buffer.from('expected output\n'), 'tasks');
  exercise(randomBytes(6 * MiB + 123)); // above the inline limit and one upload part: multipart, served by a 302
  for (let i = 0; i < (options.extraExercises ?? 0); i++) exercise(Buffer.from(`test input ${i}\n${'x'.repeat(i)}`));
  // Content that does not hash to its name.
  const wrongName = sha1('what the name promises');
  write(`exercises/${wrongName[0]}/${wrongName}`, 'something else');
  folder.refused.push(`exercises/${wrongName[0]}/${wrongName}`);

  const submission = (id: string, files: Record<string, Buffer | string>): void => {
    const map = new Map<string, Buffer>();
    for (const [path, data] of Object.entries(files)) {
      write(`submissions/${id}/${path}`, data);
      map.set(path, Buffer.from(data));
    }
    folder.submissions.set(id, map);
  };
  submission('sub_nested', {
    'main.c': 'int main(void) { return 0; }\n',
    'src/lib/util.h': '#pragma once\n',
    'src/lib/deep/er/x.txt': 'deep\n',
    'empty.txt': '',
    'job-config.yml': 'submission:\n  job-id: sub_nested\n',
  });
  submission('sub.dots_1', { 'a.py': 'print(1)\n', 'job-config.yml': 'x: 1\n' });
  submission('sub_large', { 'job-config.yml': 'large: true\n', 'data/big.bin': randomBytes(5 * MiB + 77) });
  for (let i = 0; i < (options.extraSubmissions ?? 0); i++) {
    submission(`sub_extra_${i}`, { 'main.c': `/* ${i} */\n`, 'job-config.yml': `id: ${i}\n`, 'in/data.txt': `${i}` });
  }
  // Names the old server stored and this one stores too: two files on a case-sensitive disk, a drive-like colon.
  submission('sub_old_names', { 'Main.java': 'class Main {}\n', 'main.java': 'class main {}\n', 'a:b.txt': 'colon\n' });
  // The old server accepted any field name; this one refuses a backslash (docs/protocol.md §6), and cannot store a
  // name that is not UTF-8 (written here by another program), so the whole submission is refused, each file named.
  write('submissions/sub_refused/ok.c', 'fine\n');
  write('submissions/sub_refused/bad\\name.c', 'refused\n');
  writeFileSync(Buffer.from(`${root}/submissions/sub_refused/\xff\xfe.c`, 'latin1'), 'not UTF-8\n');
  folder.refused.push('submissions/sub_refused');
  write('submission_archives/sub_nested.zip', 'an archive of the old server: not copied');

  const result = (name: string, data: Buffer): void => {
    write(`results/${name}`, data);
    folder.results.set(name, data);
  };
  result('sub_nested.zip', randomBytes(1000));
  result('empty_result.zip', Buffer.alloc(0));
  result('sub_large.zip', randomBytes(5 * MiB + 1)); // multipart, served by a 302
  write('results/bad name.zip', 'a name this service refuses');
  folder.refused.push('results/bad name.zip');

  write('attachments/att_1', 'an attachment\n');
  folder.attachments.set('att_1', Buffer.from('an attachment\n'));
  return folder;
}

/** Every key the migration of `folder` must leave in the bucket, except archives and revisions. */
export function expectedKeys(folder: OldFolder): string[] {
  const keys: string[] = [];
  for (const hash of folder.exercises.keys()) keys.push(`tasks/${hash[0]}/${hash}`);
  for (const [id, files] of folder.submissions) {
    keys.push(`manifests/${id}.json`);
    for (const path of files.keys()) keys.push(`submissions/${id}/${path}`);
  }
  for (const name of folder.results.keys()) keys.push(`results/${name}`);
  for (const id of folder.attachments.keys()) keys.push(`attachments/${id}`);
  return keys.sort();
}

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The JSON report (when run with --json). */
  json<T = Record<string, unknown>>(): T;
}

/** The operator tool, in this process (its storage settings are the test stack's environment). */
export async function runTool(args: string[], stop: StopSignal = { stopped: false }): Promise<ToolRun> {
  let stdout = '';
  let stderr = '';
  const out: Output = { write: (text: string) => (stdout += text), isTTY: false };
  const err: Output = { write: (text: string) => (stderr += text), isTTY: false };
  const code = await runOperator(args, { stdout: out, stderr: err }, stop);
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}
