/**
 * An answer given before a request's body is read (no credentials, too large, too many bodies in flight, an HTTP
 * version not spoken), after which the connection is closed without reading that body, so the body never takes
 * memory. The connection is closed in stages, as RFC 9112 §9.6 describes: the answer and a half-close first, then
 * what the client still sends is read and dropped, for a bounded time and number of bytes, and only then is the
 * connection closed. Closed at once with bytes unread, a connection is reset (TCP RST), and a client still sending
 * its body would often lose the answer before reading it: 11 to 20 of 160 clients did in `npm run bench:bodies`.
 *
 * Node's own way, `Connection: close` on the response, closes the socket as soon as the answer is written, so this
 * writes the answer on the socket itself; the request's `ServerResponse` is left unused and ends with the connection.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';

/** How long a client may go on sending after the answer before the connection is closed regardless. */
const LINGER_MS = 2_000;
/** How much of what it sends is read (and dropped) meanwhile: enough for what was in flight when it got the answer. */
const LINGER_BYTES = 512 * 1024;

export interface UnreadAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function answerAndClose(req: IncomingMessage, answer: UnreadAnswer): void {
  const socket = req.socket;
  const body = Buffer.from(answer.body);
  const lines = [`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}`];
  const headers: Record<string, string> = {
    ...answer.headers,
    Date: new Date().toUTCString(),
    'Content-Length': String(body.length),
    Connection: 'close',
  };
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  // RFC 9110 §9.3.2: an answer to HEAD carries the headers of the answer to GET, without its content.
  socket.end(req.method === 'HEAD' ? head : Buffer.concat([head, body]));
  const deadline = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(deadline));
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) socket.destroy();
  });
  // The client's own close ends it sooner; Node's HTTP server closes a socket whose reading side has ended.
  req.resume();
}
