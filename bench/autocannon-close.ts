/**
 * autocannon 9 against a server that closes connections (`Connection: close` on every answer, as gunicorn's sync
 * workers send; or any close in the middle of a run). Its client (`lib/httpClient.js`, checked against 9.0.0, the
 * pinned version) writes the next request onto the socket as soon as an answer is complete, also when that answer
 * said the server closes it. The server never reads that request; on the socket's end the client connects again
 * and sends one more, but the lost one stays first in its queue of pending requests (`PipelinedRequestsQueue`),
 * which only `_destroyConnection` clears. From then on each answer is matched to the request before it: its latency
 * is timed from the lost request's start, the queue grows by one with every close, and in a cycle of different
 * requests every answer is credited to the wrong one (in `mixed`, the archive GET is sent for a submission whose
 * POST was lost, which the old server answers with 500).
 *
 * The fix keeps one request per connection in flight, as a real client does: an answer whose connection will not
 * be kept alive (`Connection: close`, or HTTP/1.0 without keep-alive; the parser's `shouldKeepAlive`) is recorded,
 * then the connection is replaced and the next request goes onto the new one. A connection that ends with a request
 * still unanswered is replaced the same way, and the lost request counts as an error (autocannon's `errors`).
 * Only pipelining 1 is handled, the runner's setting.
 */

interface PendingQueue {
  size(): number;
  setHeaders(headers: { shouldKeepAlive?: boolean }): void;
  /** Set by the patch: the answer being read said the server will close the connection. */
  serverCloses?: boolean;
}

interface Connection {
  on(event: string, listener: (...args: unknown[]) => void): void;
  removeAllListeners(event: string): void;
}

interface ClientPrototype {
  conn: Connection;
  destroyed: boolean;
  opts: { pipelining: number };
  pipelinedRequests: PendingQueue;
  _connect(): void;
  _doRequest(): void;
  _resetConnection(): void;
  emit(event: string, ...args: unknown[]): boolean;
}

// autocannon has no option for this and no types for its internals.
const client = require('autocannon/lib/httpClient') as { prototype: ClientPrototype };
const queue = require('autocannon/lib/pipelinedRequestsQueue') as { prototype: PendingQueue };

let installed = false;
let active = false;

/** Installs the fix (once per process); `enabled: false` turns it off again, for the self-check's comparison. */
export function reconnectWhenServerCloses(enabled = true): void {
  active = enabled;
  if (installed) return;
  installed = true;

  const setHeaders = queue.prototype.setHeaders;
  queue.prototype.setHeaders = function (this: PendingQueue, headers): void {
    this.serverCloses = headers?.shouldKeepAlive === false;
    setHeaders.call(this, headers);
  };

  // Called right after an answer is recorded, to send the next request: on a connection the server closes, that
  // request would be lost, so it goes onto a new connection (`_resetConnection` → `_connect` → `_doRequest`).
  const doRequest = client.prototype._doRequest;
  client.prototype._doRequest = function (this: ClientPrototype): void {
    if (active && this.pipelinedRequests.serverCloses && !this.destroyed && this.opts.pipelining === 1) {
      this.pipelinedRequests.serverCloses = false;
      this._resetConnection();
      return;
    }
    doRequest.call(this);
  };

  const connect = client.prototype._connect;
  client.prototype._connect = function (this: ClientPrototype): void {
    connect.call(this);
    if (!active) return;
    const conn = this.conn;
    // autocannon's own 'end' listener reconnects but keeps the unanswered request queued; this one replaces it.
    conn.removeAllListeners('end');
    conn.on('end', () => {
      if (this.destroyed || this.conn !== conn) return;
      const unanswered = this.pipelinedRequests.size();
      if (unanswered > 0) this.emit('connError', new Error('the server closed the connection before answering'));
      this._resetConnection();
    });
  };
}
