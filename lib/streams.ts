import type { Readable } from 'node:stream';

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
