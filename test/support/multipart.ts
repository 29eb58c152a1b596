/**
 * Builds multipart/form-data bodies byte by byte, so tests can send what real clients send (Guzzle, curl) and
 * what hostile ones do (NUL bytes, backslashes, duplicate names), which FormData would normalise away.
 */
import { randomBytes } from 'node:crypto';

export interface Part {
  /** A string is written as UTF-8; a Buffer byte for byte (a name that is not UTF-8, as a broken client sends it). */
  name: string | Buffer;
  data: Buffer | string;
  /** Present → a file part (as Guzzle sends); absent → a text field. */
  filename?: string;
  contentType?: string;
}

export function multipart(parts: readonly Part[]): { body: Buffer; contentType: string } {
  const boundary = `----test${randomBytes(12).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const name = Buffer.isBuffer(part.name) ? part.name.toString('latin1') : part.name;
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"`;
    head += '\r\n';
    if (part.contentType ?? (part.filename !== undefined ? 'application/octet-stream' : undefined)) {
      head += `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n`;
    }
    // A Buffer name went in as latin1 (one character per byte), so that the head is written back byte for byte.
    const encoding = Buffer.isBuffer(part.name) ? 'latin1' : 'utf8';
    chunks.push(Buffer.from(`${head}\r\n`, encoding), Buffer.from(part.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** A file part whose field name is `name`, as the ReCodEx API sends submission files. */
export const file = (name: string, data: Buffer | string): Part => ({
  name,
  data,
  filename: name.split('/').pop() || 'f',
});
