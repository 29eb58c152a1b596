import { type Entry, fromBuffer } from 'yauzl';

export interface ZipEntry {
  name: string;
  data: Buffer;
  compressionMethod: number;
}

/**
 * An entry name as a ReCodEx worker's unpacker on Linux takes it, or why it would refuse it: absolute only with a
 * leading '/', and never a `..` segment. yauzl's own check also refuses a leading drive letter (`a:b.txt`), a
 * Windows rule: on the worker that is a relative name like any other (docs/protocol.md §6).
 */
function workerEntryName(raw: Buffer, utf8Flag: boolean): string {
  // Without general purpose bit 11 a name is CP437, which only ASCII reads the same in.
  if (!utf8Flag && raw.some((byte) => byte >= 0x80)) {
    throw new Error(`entry ${raw.toString('latin1')} has a non-ASCII name without the UTF-8 flag (bit 11)`);
  }
  const name = raw.toString('utf8');
  if (name.startsWith('/') || name.includes('\\') || name.split('/').includes('..')) {
    throw new Error(`entry name ${JSON.stringify(name)} would escape the folder the worker unpacks into`);
  }
  return name;
}

/** Every entry of a zip, in archive order, read with yauzl (an independent reader, not our writer). */
export function readZip(zip: Buffer): Promise<ZipEntry[]> {
  return new Promise((resolve, reject) => {
    // decodeStrings: false hands the raw name over, for workerEntryName to judge as a Linux worker does.
    fromBuffer(zip, { lazyEntries: true, decodeStrings: false }, (err, zipfile) => {
      if (err || !zipfile) return reject(err);
      const entries: ZipEntry[] = [];
      zipfile.on('entry', (entry: Entry) => {
        let name: string;
        try {
          name = workerEntryName(entry.fileName as unknown as Buffer, (entry.generalPurposeBitFlag & 0x800) !== 0);
        } catch (nameErr) {
          return reject(nameErr);
        }
        zipfile.openReadStream(entry, (streamErr, stream) => {
          if (streamErr || !stream) return reject(streamErr);
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('end', () => {
            entries.push({
              name,
              data: Buffer.concat(chunks),
              compressionMethod: entry.compressionMethod,
            });
            zipfile.readEntry();
          });
          stream.on('error', reject);
        });
      });
      zipfile.on('end', () => resolve(entries));
      zipfile.on('error', reject);
      zipfile.readEntry();
    });
  });
}
