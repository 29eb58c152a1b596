import { Duplex, type Readable } from 'node:stream';

/**
 * Reads a small stream (a manifest, never a user's file) into memory, refusing more than `maxBytes` so a damaged
 * object cannot exhaust the function's memory.
 */
/** A stream held more bytes than its reader would keep in memory. */
export class TooLargeToReadError extends Error {}

export async function readSmall(stream: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    total += buffer.length;
    if (total > maxBytes) {
      stream.destroy();
      throw new TooLargeToReadError(`Refusing to read more than ${maxBytes} bytes into memory.`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** The size of the blocks a `BlockJoiner` passes on. */
const JOINED_BLOCK_BYTES = 64 * 1024;

/**
 * Joins the small writes of a zip writer into 64 KiB blocks, with backpressure until `takeTheRest()` is called and
 * none after it.
 *
 * archiver's zip writer (compress-commons 7) writes the central directory at the end in one synchronous burst of
 * about 16 writes of 2 to 8 bytes per entry. When the multipart upload is waiting on S3 at that moment, each of
 * them waits in a stream buffer as an object of its own, about 4 KB of heap per entry: measured, 65 MB for
 * 16,384 files (docs/archives.md, "Memory"), so a submission of some 30,000 files would exhaust the archive
 * functions' 128 MB heap. Once the last file is written the writer calls `takeTheRest()`: from then on every write
 * is taken at once and joined, and what waits for the upload is the central directory's own bytes (about 100 per
 * entry) in a few blocks. Before that, a write is taken only while no joined block waits for the reader, so file
 * data never piles up here.
 */
export class BlockJoiner extends Duplex {
  private readonly blocks: Buffer[] = [];
  private joining: Buffer[] = [];
  private joiningBytes = 0;
  private takingAll = false;
  private readerWants = false;
  private ended = false;
  private eof = false;
  private held: ((error?: Error | null) => void) | undefined;

  constructor() {
    super({ readableHighWaterMark: JOINED_BLOCK_BYTES, writableHighWaterMark: JOINED_BLOCK_BYTES });
  }

  /** From now on, take every write at once: what is left is bounded (the zip's central directory). */
  takeTheRest(): void {
    this.takingAll = true;
    this.release();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.joining.push(chunk);
    this.joiningBytes += chunk.length;
    if (this.joiningBytes >= JOINED_BLOCK_BYTES) this.seal();
    this.feed();
    if (this.takingAll || this.blocks.length === 0) done();
    else this.held = done;
  }

  override _final(done: (error?: Error | null) => void): void {
    this.seal();
    this.ended = true;
    this.feed();
    done();
  }

  override _read(): void {
    this.readerWants = true;
    this.feed();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.blocks.length = 0;
    this.joining = [];
    this.held = undefined;
    done(error);
  }

  private seal(): void {
    if (this.joiningBytes === 0) return;
    this.blocks.push(this.joining.length === 1 ? (this.joining[0] as Buffer) : Buffer.concat(this.joining));
    this.joining = [];
    this.joiningBytes = 0;
  }

  /** Hands sealed blocks to the reader while it wants them, and lets the held write go once none is left. */
  private feed(): void {
    while (this.readerWants && this.blocks.length > 0) this.readerWants = this.push(this.blocks.shift());
    if (this.blocks.length > 0) return;
    if (!this.ended) this.release();
    else if (!this.eof) {
      this.eof = true;
      this.push(null);
    }
  }

  private release(): void {
    const held = this.held;
    this.held = undefined;
    held?.();
  }
}
