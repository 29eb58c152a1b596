/**
 * The archive a POST builds from the bytes it holds (`zipFromMemory`) is byte for byte the one a build from S3
 * streams (`zipStream`), whatever the entry: deflated or stored, empty, larger than one chunk of a read, handed to
 * archiver whole or as a stream, in either layout. A submission must have one archive whichever path built it (docs/archives.md, "Determinism").
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ArchiveLayout } from '../../lib/config';
import { WHOLE_ENTRY_MAX_BYTES, zipFromMemory, zipStream } from '../../lib/fileserver/archive-zip';
import { type Manifest, makeManifest } from '../../lib/fileserver/manifest';
import { FIXTURE_FILES, FIXTURE_ID, LAYOUTS } from '../support/archive-fixture';
import { readZip } from '../support/zip';

const FIXTURES = join(__dirname, '../fixtures/archives');

function manifestOf(id: string, files: Record<string, Buffer>): Manifest {
  return makeManifest(
    id,
    Object.entries(files).map(([path, data]) => ({ path, size: data.length, etag: `"${path}"` })),
  );
}

/** The zip streamed from `files`, each read in chunks of `chunk` bytes, as a read from S3 delivers them. */
function streamed(
  manifest: Manifest,
  layout: ArchiveLayout,
  files: Record<string, Buffer>,
  chunk: number,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    zipStream(manifest, layout, async ({ path }) => {
      const data = files[path] ?? Buffer.alloc(0);
      const pieces: Buffer[] = [];
      for (let at = 0; at < data.length; at += chunk) pieces.push(data.subarray(at, at + chunk));
      return Readable.from(pieces);
    })
      .on('data', (piece: Buffer) => chunks.push(piece))
      .on('end', () => resolve(Buffer.concat(chunks)))
      .on('error', reject);
  });
}

describe('zipFromMemory', () => {
  it.each(LAYOUTS)(
    'writes exactly the checked-in %s fixture (deflated, stored, empty, non-ASCII, word: names)',
    async (layout) => {
      const zip = await zipFromMemory(
        manifestOf(FIXTURE_ID, FIXTURE_FILES),
        layout,
        new Map(Object.entries(FIXTURE_FILES)),
      );
      expect(zip.equals(readFileSync(join(FIXTURES, `${layout}.zip`)))).toBe(true);
    },
  );

  it('writes the bytes of a streamed build for files of many chunks, stored and deflated, whole and streamed', async () => {
    const files: Record<string, Buffer> = {
      // Deflated, handed to archiver whole (up to WHOLE_ENTRY_MAX_BYTES) and as a stream (above).
      'big.c': Buffer.from('for (int i = 0; i < n; i++) sum += a[i] * b[i]; /* dot */\n'.repeat(6000)),
      'huge.c': Buffer.from('x = y * z + w; /* the same line, again */\n'.repeat(WHOLE_ENTRY_MAX_BYTES / 32)),
      'random.bin': randomBytes(300_000),
      // Stored by name, whole and as a stream.
      'data/archive.zip': randomBytes(200_000),
      'data/larger.zip': randomBytes(WHOLE_ENTRY_MAX_BYTES + 1),
      // Stored, at the bound: handed over whole by both builds, so both write its sizes in the local header.
      'data/exact.zip': randomBytes(WHOLE_ENTRY_MAX_BYTES),
      // Stored by size.
      'empty.txt': Buffer.alloc(0),
      'job-config.yml': Buffer.from('submission:\n  job-id: big_one\n'),
    };
    const manifest = manifestOf('big_one', files);
    const fromMemory = await zipFromMemory(manifest, 'flat', new Map(Object.entries(files)));
    for (const chunk of [1000, 16 * 1024, 65536]) {
      expect(
        createHash('sha256')
          .update(await streamed(manifest, 'flat', files, chunk))
          .digest('hex'),
      ).toBe(createHash('sha256').update(fromMemory).digest('hex'));
    }
    const entries = await readZip(fromMemory);
    expect(Object.fromEntries(entries.map((entry) => [entry.name, entry.compressionMethod]))).toEqual({
      'big.c': 8,
      'data/archive.zip': 0,
      'data/exact.zip': 0,
      'data/larger.zip': 0,
      'empty.txt': 0,
      'huge.c': 8,
      'job-config.yml': 0,
      'random.bin': 8,
    });
    for (const entry of entries) expect(entry.data.equals(files[entry.name] as Buffer)).toBe(true);
  });

  it('refuses a file it does not hold, or holds with another size than the manifest lists', async () => {
    const manifest = manifestOf('s1', { 'a.c': Buffer.from('a'), 'b.c': Buffer.from('bb') });
    await expect(zipFromMemory(manifest, 'flat', new Map([['a.c', Buffer.from('a')]]))).rejects.toThrow(/b\.c/);
    await expect(
      zipFromMemory(
        manifest,
        'flat',
        new Map([
          ['a.c', Buffer.from('a')],
          ['b.c', Buffer.from('b')],
        ]),
      ),
    ).rejects.toThrow(/b\.c has 1 bytes, its manifest lists 2/);
  });
});
