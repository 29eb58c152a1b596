/**
 * The exact bytes of a small archive in each layout, pinned by checked-in zips (test/fixtures/archives/), so that
 * any change to what the zip writer produces is caught: a new version of archiver, another option, another Node
 * zlib. Stored archives are rebuilt only when their manifest or the layout changes (docs/archives.md), so an
 * unnoticed change would leave two kinds of bytes for one manifest.
 *
 * A deliberate change of the bytes: run this file once with UPDATE_ARCHIVE_FIXTURES=1, check the new zips with an
 * independent reader (`zipinfo -v`), and say why in the commit.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ArchiveLayout } from '../../lib/config';
import { buildFixture, FIXTURE_FILES, FIXTURE_ID, LAYOUTS } from '../support/archive-fixture';
import { readZip } from '../support/zip';

const root = join(__dirname, '../..');
const FIXTURES = join(root, 'test/fixtures/archives');

/**
 * Time zones far from UTC on both sides, with 45- and 30-minute offsets: an entry date taken from local time would
 * move in each (to 2000-01-01 13:45 in Chatham, to 1999-12-31 20:30 in St. John's).
 */
const ZONES = ['UTC', 'Pacific/Chatham', 'America/St_Johns'];

const builtInZone = new Map<string, Promise<Record<ArchiveLayout, Buffer>>>();

/** Both archives, built by a fresh process in time zone `zone` (once per zone for both layouts). */
function buildInZone(zone: string): Promise<Record<ArchiveLayout, Buffer>> {
  let built = builtInZone.get(zone);
  if (!built) {
    built = promisify(execFile)(join(root, 'node_modules/.bin/tsx'), [join(root, 'test/support/archive-fixture.ts')], {
      cwd: root,
      env: { ...process.env, TZ: zone },
    }).then(({ stdout }) => {
      const base64 = JSON.parse(stdout) as Record<ArchiveLayout, string>;
      return { prefixed: Buffer.from(base64.prefixed, 'base64'), flat: Buffer.from(base64.flat, 'base64') };
    });
    builtInZone.set(zone, built);
  }
  return built;
}

describe.each(LAYOUTS)('the %s archive of a small submission', (layout) => {
  const fixture = join(FIXTURES, `${layout}.zip`);
  if (process.env.UPDATE_ARCHIVE_FIXTURES === '1') {
    beforeAll(async () => writeFileSync(fixture, await buildFixture(layout)));
  }

  it('has exactly the bytes of the checked-in fixture', async () => {
    expect((await buildFixture(layout)).equals(readFileSync(fixture))).toBe(true);
  });

  it.each(ZONES)('has the same bytes when built by a process in the time zone %s', async (zone) => {
    expect((await buildInZone(zone))[layout].equals(readFileSync(fixture))).toBe(true);
  });

  it('is, read by an independent reader, every file with its exact bytes under its exact name', async () => {
    const entries = await readZip(readFileSync(fixture));
    const prefix = layout === 'prefixed' ? `${FIXTURE_ID}/` : '';
    expect(entries.map((e) => e.name)).toEqual(
      Object.keys(FIXTURE_FILES)
        .sort()
        .map((path) => `${prefix}${path}`),
    );
    for (const entry of entries) {
      expect(entry.data.equals(FIXTURE_FILES[entry.name.slice(prefix.length)] ?? Buffer.from('missing'))).toBe(true);
    }
    expect(Object.fromEntries(entries.map((e) => [e.name.slice(prefix.length), e.compressionMethod]))).toMatchObject({
      'data/input.png': 0,
      'empty.txt': 0,
      'job-config.yml': 0,
      'main.c': 8,
    });
  });

  it('stamps every entry, in its local header and in the central directory, 2000-01-01 00:00, mode 0100644, no extra field', () => {
    const zip = readFileSync(fixture);
    const DOS_DATE = ((2000 - 1980) << 9) | (1 << 5) | 1;
    // The central directory, found from the end record (APPNOTE 4.3.16; no archive comment is written).
    const end = zip.length - 22;
    expect(zip.readUInt32LE(end)).toBe(0x06054b50);
    const count = zip.readUInt16LE(end + 10);
    expect(count).toBe(Object.keys(FIXTURE_FILES).length);
    let at = zip.readUInt32LE(end + 16);
    for (let i = 0; i < count; i++) {
      expect(zip.readUInt32LE(at)).toBe(0x02014b50); // central file header (APPNOTE 4.3.12)
      expect([zip.readUInt16LE(at + 12), zip.readUInt16LE(at + 14)]).toEqual([0, DOS_DATE]);
      expect(zip.readUInt16LE(at + 30)).toBe(0); // extra field length: no extended timestamp
      expect(zip.readUInt32LE(at + 38) >>> 16).toBe(0o100644); // Unix mode in the external attributes
      const local = zip.readUInt32LE(at + 42);
      expect(zip.readUInt32LE(local)).toBe(0x04034b50); // local file header (APPNOTE 4.3.7)
      expect([zip.readUInt16LE(local + 10), zip.readUInt16LE(local + 12)]).toEqual([0, DOS_DATE]);
      expect(zip.readUInt16LE(local + 28)).toBe(0);
      at += 46 + zip.readUInt16LE(at + 28) + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    }
  });
});
