import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ArchiveLayout } from '../../lib/config';
import {
  entryName,
  PREFETCH_FILES,
  STORE_BELOW_BYTES,
  shouldDeflate,
  WHOLE_ENTRY_MAX_BYTES,
  zipStream,
} from '../../lib/fileserver/archive-zip';
import { type Manifest, type ManifestFile, makeManifest } from '../../lib/fileserver/manifest';
import { readZip } from '../support/zip';

const STORED = 0;
const DEFLATED = 8;

function collect(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** A manifest of `files` (with their real sizes) and an `open` that serves them from memory. */
function inMemory(id: string, files: Record<string, Buffer>) {
  const manifest = makeManifest(
    id,
    Object.entries(files).map(([path, data]) => ({ path, size: data.length, etag: `"etag-${path}"` })),
  );
  const opened: string[] = [];
  const open = async ({ path, etag }: ManifestFile): Promise<Readable> => {
    const data = files[path];
    if (!data) throw new Error(`test: unknown path ${path}`);
    expect(etag).toBe(`"etag-${path}"`);
    opened.push(path);
    return Readable.from([data]);
  };
  return { manifest, open, opened };
}

const FILES: Record<string, Buffer> = {
  'main.c': Buffer.from('int main(void) { return 0; }\n'),
  'sub/dir/x.txt': Buffer.from('x\r\ny\r\n'.repeat(100)),
  'job-config.yml': Buffer.from('---\nsubmission:\n  job-id: s1\n'),
  'data.bin': randomBytes(100_000),
  'empty.txt': Buffer.alloc(0),
  'složka/ž.c': Buffer.from('// ž\n'),
};
const SORTED = ['data.bin', 'empty.txt', 'job-config.yml', 'main.c', 'složka/ž.c', 'sub/dir/x.txt'];

async function build(manifest: Manifest, layout: ArchiveLayout, open: Parameters<typeof zipStream>[2]) {
  return collect(zipStream(manifest, layout, open));
}

describe('zipStream', () => {
  it('puts every file under <id>/ in the prefixed layout, sorted by path, with its exact bytes', async () => {
    const { manifest, open } = inMemory('student_1', FILES);
    const entries = await readZip(await build(manifest, 'prefixed', open));
    expect(entries.map((e) => e.name)).toEqual(SORTED.map((path) => `student_1/${path}`));
    for (const entry of entries) {
      expect(entry.data.equals(FILES[entry.name.slice('student_1/'.length)] ?? Buffer.from('missing'))).toBe(true);
    }
  });

  it('puts every file at the root in the flat layout, job-config.yml included', async () => {
    const { manifest, open } = inMemory('student_1', FILES);
    const entries = await readZip(await build(manifest, 'flat', open));
    expect(entries.map((e) => e.name)).toEqual(SORTED);
    for (const entry of entries) {
      expect(entry.data.equals(FILES[entry.name] ?? Buffer.from('missing'))).toBe(true);
    }
  });

  it('opens each file once, in path order, never more than PREFETCH_FILES ahead of the writer', async () => {
    const many: Record<string, Buffer> = {};
    for (let i = 0; i < 30; i++) many[`f${String(i).padStart(2, '0')}.txt`] = Buffer.from(`file ${i}`);
    const { manifest } = inMemory('s1', many);
    const opened: string[] = [];
    let ended = 0;
    let maxAhead = 0;
    const open = async ({ path }: ManifestFile): Promise<Readable> => {
      opened.push(path);
      maxAhead = Math.max(maxAhead, opened.length - ended);
      const stream = Readable.from([many[path] ?? Buffer.alloc(0)]);
      stream.on('end', () => {
        ended++;
      });
      return stream;
    };
    await build(manifest, 'flat', open);
    expect(opened).toEqual(Object.keys(many).sort());
    expect(maxAhead).toBeGreaterThan(1);
    expect(maxAhead).toBeLessThanOrEqual(PREFETCH_FILES);
  });

  it('builds byte-identical zips twice in a row, a second apart on the clock', async () => {
    const builds = async () =>
      Promise.all(
        (['prefixed', 'flat'] as const).map((layout) => {
          const { manifest, open } = inMemory('s1', FILES);
          return build(manifest, layout, open);
        }),
      );
    const [prefixedA, flatA] = await builds();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const [prefixedB, flatB] = await builds();
    expect(prefixedA?.equals(prefixedB ?? Buffer.alloc(0))).toBe(true);
    expect(flatA?.equals(flatB ?? Buffer.alloc(0))).toBe(true);
    expect(prefixedA?.equals(flatA ?? Buffer.alloc(0))).toBe(false);
  });

  it('writes the same bytes whatever order the manifest was made from', async () => {
    const reversed = Object.fromEntries(Object.entries(FILES).reverse());
    const a = inMemory('s1', FILES);
    const b = inMemory('s1', reversed);
    expect((await build(a.manifest, 'prefixed', a.open)).equals(await build(b.manifest, 'prefixed', b.open))).toBe(
      true,
    );
  });

  it('stamps every entry with the fixed DOS date 2000-01-01 00:00 and no extra timestamp field', async () => {
    const { manifest, open } = inMemory('s1', { 'a.c': Buffer.from('a') });
    const zip = await build(manifest, 'flat', open);
    expect(zip.readUInt32LE(0)).toBe(0x04034b50); // local file header
    expect(zip.readUInt16LE(10)).toBe(0); // time 00:00:00
    expect(zip.readUInt16LE(12)).toBe(((2000 - 1980) << 9) | (1 << 5) | 1); // date 2000-01-01
    expect(zip.readUInt16LE(28)).toBe(0); // extra field length
  });

  it('compresses by extension: already-compressed formats are stored, others deflated', async () => {
    const files: Record<string, Buffer> = {};
    for (const name of [
      'a.zip',
      'b.png',
      'c.gz',
      'd.JPG',
      'e.tar.gz',
      'f.c',
      'g.txt',
      'Makefile',
      '.hidden',
      'h.zip/x',
    ]) {
      files[name] = Buffer.from(`content of ${name} `.repeat(400)); // above STORE_BELOW_BYTES
    }
    const { manifest, open } = inMemory('s1', files);
    const methods = Object.fromEntries(
      (await readZip(await build(manifest, 'flat', open))).map((e) => [e.name, e.compressionMethod]),
    );
    expect(methods).toEqual({
      'a.zip': STORED,
      'b.png': STORED,
      'c.gz': STORED,
      'd.JPG': STORED,
      'e.tar.gz': STORED,
      'f.c': DEFLATED,
      'g.txt': DEFLATED,
      Makefile: DEFLATED,
      '.hidden': DEFLATED,
      'h.zip/x': DEFLATED,
    });
  });

  it('stores a file smaller than STORE_BELOW_BYTES whatever its name, and deflates one of that size', async () => {
    const files: Record<string, Buffer> = {
      'empty.c': Buffer.alloc(0),
      'small.c': Buffer.alloc(STORE_BELOW_BYTES - 1, 'a'),
      'threshold.c': Buffer.alloc(STORE_BELOW_BYTES, 'a'),
      'threshold.png': Buffer.alloc(STORE_BELOW_BYTES, 'a'),
    };
    const { manifest, open } = inMemory('s1', files);
    const entries = await readZip(await build(manifest, 'flat', open));
    expect(Object.fromEntries(entries.map((e) => [e.name, e.compressionMethod]))).toEqual({
      'empty.c': STORED,
      'small.c': STORED,
      'threshold.c': DEFLATED,
      'threshold.png': STORED,
    });
    for (const entry of entries) expect(entry.data.equals(files[entry.name] as Buffer)).toBe(true);
  });

  it.each<ArchiveLayout>(['prefixed', 'flat'])(
    'keeps paths that start like a drive letter or URL scheme exactly in the %s layout',
    async (layout) => {
      const files: Record<string, Buffer> = {
        'abc:def.c': Buffer.from('1'),
        'def.c': Buffer.from('2'),
        'x_1:/y.c': Buffer.from('3'),
        'http:': Buffer.from('4'),
        'a-b:c.c': Buffer.from('5'),
        // A drive letter is an ordinary name on the worker (Linux): kept, like the old fileserver kept it.
        'a:b.txt': Buffer.from('6'),
        'C:/x.c': Buffer.from('7'),
        'c:': Buffer.from('8'),
      };
      const { manifest, open } = inMemory('s1', files);
      const entries = await readZip(await build(manifest, layout, open));
      const prefix = layout === 'prefixed' ? 's1/' : '';
      expect(entries.map((e) => [e.name, e.data.toString()])).toEqual(
        Object.keys(files)
          .sort()
          .map((path) => [`${prefix}${path}`, files[path]?.toString()]),
      );
    },
  );

  it('reads small files no further ahead of a slow reader than about one archiver buffer', async () => {
    // archiver takes a file handed over whole at once; without waiting for its output to drain, a slow upload would
    // leave every small file of a submission waiting in memory (here 8 MiB of stored files).
    const size = 16 * 1024;
    const files = Array.from({ length: 512 }, (_, i) => ({ path: `f${i}.png`, size, etag: '"e"' }));
    let read = 0;
    let taken = 0;
    let mostAhead = 0;
    const zip = zipStream(makeManifest('s1', files), 'flat', async () => {
      const source = Readable.from([Buffer.alloc(size, 1)]);
      source.on('end', () => {
        read += size;
        mostAhead = Math.max(mostAhead, read - taken);
      });
      return source;
    });
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', resolve);
      zip.pause();
      // 16 KiB per timer tick: far slower than files come from memory.
      const takeSome = (): void => {
        const chunk: Buffer | null = zip.read(16 * 1024) ?? zip.read();
        if (chunk) taken += chunk.length;
        if (!zip.readableEnded) setTimeout(takeSome, 1);
      };
      zip.on('readable', () => undefined);
      takeSome();
    });
    expect(read).toBe(files.length * size);
    expect(mostAhead).toBeLessThan(3 * 1024 * 1024);
  });

  it('builds an empty but valid zip for a manifest without files', async () => {
    const zip = await build(makeManifest('s1', []), 'prefixed', async () => {
      throw new Error('nothing to open');
    });
    await expect(readZip(zip)).resolves.toEqual([]);
  });

  it('fails the output stream when opening the second file fails', async () => {
    const { manifest } = inMemory('s1', FILES);
    let calls = 0;
    const open = async ({ path }: ManifestFile): Promise<Readable> => {
      calls += 1;
      if (calls === 2) throw new Error('PreconditionFailed: etag changed');
      return Readable.from([FILES[path] ?? Buffer.alloc(0)]);
    };
    await expect(build(manifest, 'prefixed', open)).rejects.toThrow('PreconditionFailed: etag changed');
  });

  it('fails the output stream when the first file cannot be opened', async () => {
    const { manifest } = inMemory('s1', FILES);
    await expect(
      build(manifest, 'flat', async () => {
        throw new Error('NoSuchKey');
      }),
    ).rejects.toThrow('NoSuchKey');
  });

  it('fails the output stream when a source fails mid-read', async () => {
    const { manifest } = inMemory('s1', FILES);
    const open = async ({ path }: ManifestFile): Promise<Readable> => {
      const data = FILES[path] ?? Buffer.alloc(0);
      if (path !== 'job-config.yml') return Readable.from([data]);
      // Its first bytes, then the connection breaks, as a socket's read does.
      let sent = false;
      return new Readable({
        read() {
          if (sent) return;
          sent = true;
          this.push(data.subarray(0, 5));
          setImmediate(() => this.destroy(new Error('ECONNRESET mid-read')));
        },
      });
    };
    await expect(build(manifest, 'flat', open)).rejects.toThrow('ECONNRESET mid-read');
  });

  it('fails the output stream when a file streamed to the zip (over WHOLE_ENTRY_MAX_BYTES) breaks mid-read', async () => {
    const size = WHOLE_ENTRY_MAX_BYTES + 1;
    const manifest = makeManifest('s1', [{ path: 'data/big.zip', size, etag: '"big"' }]);
    const open = async (): Promise<Readable> => {
      let sent = false;
      return new Readable({
        read() {
          if (sent) return;
          sent = true;
          this.push(randomBytes(64 * 1024));
          setImmediate(() => this.destroy(new Error('ECONNRESET in a large file')));
        },
      });
    };
    await expect(build(manifest, 'flat', open)).rejects.toThrow('ECONNRESET in a large file');
  });

  it.each([
    ['fewer', 10],
    ['more', -10],
  ])(
    'fails the output stream when a file streamed to the zip has %s bytes than its manifest lists',
    async (_what, d) => {
      const data = randomBytes(WHOLE_ENTRY_MAX_BYTES + 100);
      const manifest = makeManifest('s1', [{ path: 'data/big.zip', size: data.length + d, etag: '"big"' }]);
      await expect(build(manifest, 'flat', async () => Readable.from([data]))).rejects.toThrow(
        `The file data/big.zip has ${data.length} bytes, its manifest lists ${data.length + d}.`,
      );
    },
  );

  it('stops reading a small file at once when it holds more than its manifest lists', async () => {
    const manifest = makeManifest('s1', [{ path: 'a.c', size: 10, etag: '"a"' }]);
    let pushed = 0;
    // A source that never ends: the build must stop it, not hold its bytes in memory while waiting for its end.
    const endless = new Readable({
      read() {
        pushed += 1024;
        if (pushed <= 64 * 1024 * 1024) this.push(Buffer.alloc(1024, 'x'));
      },
    });
    await expect(build(manifest, 'flat', async () => endless)).rejects.toThrow(/has \d+ bytes, its manifest lists 10/);
    expect(endless.destroyed).toBe(true);
    expect(pushed).toBeLessThan(1024 * 1024);
  });

  it.each([
    ['fewer', 10, Buffer.from('only 7 ')],
    ['more', 3, Buffer.from('more than three bytes')],
  ])('fails the output stream when a source has %s bytes than the manifest says', async (_what, size, data) => {
    const manifest = makeManifest('s1', [
      { path: 'a.c', size: 1, etag: '"a"' },
      { path: 'b.c', size, etag: '"b"' },
    ]);
    const open = async ({ path }: ManifestFile): Promise<Readable> =>
      Readable.from([path === 'a.c' ? Buffer.from('a') : data]);
    await expect(build(manifest, 'prefixed', open)).rejects.toThrow();
  });
});

describe('entryName', () => {
  it.each<[string, string, ArchiveLayout, string]>([
    ['s1', 'main.c', 'prefixed', 's1/main.c'],
    ['a.b', 'sub/dir/x.txt', 'prefixed', 'a.b/sub/dir/x.txt'],
    ['s1', 'main.c', 'flat', 'main.c'],
    ['s1', 'sub/dir/x.txt', 'flat', 'sub/dir/x.txt'],
  ])('%s + %s in the %s layout → %s', (id, path, layout, name) => {
    expect(entryName(id, path, layout)).toBe(name);
  });
});

describe('shouldDeflate', () => {
  it.each([
    ['a.zip', false],
    ['a.ZIP', false],
    ['img.png', false],
    ['x.tar.gz', false],
    ['photo.jpeg', false],
    ['lib.jar', false],
    ['a.7z', false],
    ['sub/dir/a.xz', false],
    ['main.c', true],
    ['notes.txt', true],
    ['Makefile', true],
    ['.gitignore', true],
    ['a.zip/inside', true],
    ['job-config.yml', true],
    ['x.gzip', true],
    // A name with no dot is never an extension, even one that reads like it; a dot at the start still marks one.
    ['zip', true],
    ['png', true],
    ['.png', false],
  ])('%s → %s', (path, deflate) => {
    expect(shouldDeflate(path)).toBe(deflate);
  });
});
