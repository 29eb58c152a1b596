/**
 * HTTP/1.1 at the level of bytes on one connection: requests written exactly as given (several at once, pipelined;
 * request lines of any version), and the answers read back in the order they came until the server closes.
 */
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface Exchange {
  responses: RawResponse[];
  /** Whatever followed the last whole response (an answer cut short). */
  rest: Buffer;
}

/**
 * Writes `bytes` in one write to the server at `baseUrl`, and reads until the server closes the connection; fails
 * after `timeoutMs` if it does not.
 */
export function exchange(baseUrl: string, bytes: Buffer | string, timeoutMs = 10_000): Promise<Exchange> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined); // a reset after the answers is a close like any other
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponses(Buffer.concat(chunks)));
    });
    socket.write(bytes);
  });
}

/** The text of one request: `head` is the request line and headers, without the blank line. */
export function rawRequest(head: string, body: Buffer | string = ''): Buffer {
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), Buffer.from(body)]);
}

/** Responses one after another, each with its `Content-Length` (every answer of the local server has one). */
export function parseResponses(data: Buffer): Exchange {
  const responses: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const [statusLine = '', ...lines] = data.subarray(at, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
    const length = status < 200 ? 0 : Number(headers['content-length'] ?? 0);
    if (end + 4 + length > data.length) break;
    responses.push({ status, headers, body: data.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return { responses, rest: data.subarray(at) };
}
