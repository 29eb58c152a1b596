/**
 * The small submission whose archives are pinned by test/fixtures/archives/ (test/unit/archive-bytes.test.ts).
 * Run directly (`tsx test/support/archive-fixture.ts`), it prints both archives as JSON of base64, so that the test
 * can build them in a process with another time zone: Jest gives each test file a copy of `process.env`, and a TZ
 * set there never reaches the Date of the process.
 */
import { Readable } from 'node:stream';
import type { ArchiveLayout } from '../../lib/config';
import { zipStream } from '../../lib/fileserver/archive-zip';
import { makeManifest } from '../../lib/fileserver/manifest';

export const FIXTURE_ID = 'student_42';

/**
 * Every kind of entry the writer treats differently: deflated, stored by name and by size, empty, nested, non-ASCII,
 * `word:` names.
 */
export const FIXTURE_FILES: Record<string, Buffer> = {
  'job-config.yml': Buffer.from('---\nsubmission:\n  job-id: student_42\n  hw-groups:\n    - group1\n'),
  // Large enough to be deflated (lib/fileserver/archive-zip.ts, STORE_BELOW_BYTES); the other files are stored.
  'main.c': Buffer.from('#include <stdio.h>\n\nint main(void) {\n  puts("hello");\n  return 0;\n}\n'.repeat(64)),
  'src/util/strings.h': Buffer.from('#pragma once\nint length(const char *s);\n'),
  'data/input.png': Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) % 256)),
  'empty.txt': Buffer.alloc(0),
  'složka/čtení.txt': Buffer.from('Příliš žluťoučký kůň úpěl ďábelské ódy.\n'),
  'abc:def.c': Buffer.from('/* a name that starts like a URL scheme */\n'),
};

export const LAYOUTS: readonly ArchiveLayout[] = ['prefixed', 'flat'];

export function buildFixture(layout: ArchiveLayout): Promise<Buffer> {
  const manifest = makeManifest(
    FIXTURE_ID,
    Object.entries(FIXTURE_FILES).map(([path, data]) => ({ path, size: data.length, etag: `"${path}"` })),
  );
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    zipStream(manifest, layout, async ({ path }) => Readable.from([FIXTURE_FILES[path] ?? Buffer.alloc(0)]))
      .on('data', (chunk: Buffer) => chunks.push(chunk))
      .on('end', () => resolve(Buffer.concat(chunks)))
      .on('error', reject);
  });
}

if (require.main === module) {
  Promise.all(LAYOUTS.map(async (layout) => [layout, (await buildFixture(layout)).toString('base64')])).then(
    (built) => process.stdout.write(JSON.stringify(Object.fromEntries(built))),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
