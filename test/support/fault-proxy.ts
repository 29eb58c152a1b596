/**
 * A fault-injecting HTTP proxy in front of an S3-compatible server, for the faults an SDK middleware cannot fake
 * honestly: a connection reset on the wire, a response that never comes, a body cut short. It forwards every request
 * unchanged (the SDK's signature covers the Host header, which the proxy keeps) and, for the requests a rule picks,
 * answers with S3's own error XML (500 InternalError, 503 SlowDown), resets the connection, stalls, or truncates the
 * body. Rules see each HTTP request, i.e. each SDK *attempt*, so they also show what the SDK's retries absorb.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FaultKind =
  /** S3's 500 InternalError ("We encountered an internal error. Please try again."). */
  | '500'
  /** S3's 503 SlowDown (request-rate throttling). */
  | '503'
  /**
   * S3's 412 PreconditionFailed, as S3 answers a conditional write (`If-Match`, `If-None-Match: *`) that another
   * request's write made false: for a race whose other write the store behind (s3rver) does not check.
   */
  | '412'
  /** The TCP connection is reset (RST) before the request reaches S3: nothing is written. */
  | 'reset'
  /** The request reaches S3 and takes effect, then the connection is reset before the client sees the answer. */
  | 'reset-after'
  /** No answer at all: the request is held until the client gives up. */
  | 'stall'
  /** The response headers (with the full Content-Length) and half the body, then a reset. */
  | 'truncate';

export type S3Operation =
  | 'HeadBucket'
  | 'ListObjectsV2'
  | 'PutObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'Other';

export interface S3Request {
  operation: S3Operation;
  /** The object key, decoded; '' for bucket operations. */
  key: string;
  /** The request's conditional headers, those it sends (a write's `If-None-Match: *` or `If-Match: <etag>`). */
  conditions?: { 'if-match'?: string; 'if-none-match'?: string };
}

export interface FaultRule {
  kind: FaultKind;
  operation: S3Operation;
  /** Only requests for this key (exact, or matching the pattern). */
  key?: string | RegExp;
  /** How many matching requests to break, from the first on (default 1; `Infinity` for every one). */
  times?: number;
}

export interface ProxyStats {
  /** Every HTTP request (SDK attempt) that reached the proxy, by operation. */
  requests: Partial<Record<S3Operation, number>>;
  /** Faults injected, by kind. */
  injected: Partial<Record<FaultKind, number>>;
  /** Every HTTP request that reached the proxy, in order of arrival (what an S3 bill counts). */
  log: S3Request[];
}

export interface FaultProxy {
  readonly endpoint: string;
  /** Adds a rule; returns the requests it broke so far (a live list). */
  inject(rule: FaultRule): S3Request[];
  /** Removes every rule. */
  clear(): void;
  /**
   * Holds each request until `gate` resolves for it, before any rule or forwarding (test/support/depth-meter.ts holds
   * a round's requests until all of them are on the wire); `undefined` removes the gate.
   */
  holdWith(gate: ((request: S3Request) => Promise<void>) | undefined): void;
  readonly stats: ProxyStats;
  close(): Promise<void>;
}

const ERROR_XML: Record<'412' | '500' | '503', { status: number; code: string; message: string }> = {
  '412': {
    status: 412,
    code: 'PreconditionFailed',
    message: 'At least one of the pre-conditions you specified did not hold',
  },
  '500': { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
  '503': { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
};

export function classify(method: string, rawUrl: string): S3Request {
  const url = new URL(rawUrl, 'http://proxy');
  const [, , ...rest] = url.pathname.split('/');
  const key = decodeURIComponent(rest.join('/'));
  const q = url.searchParams;
  const onObject = key !== '';
  let operation: S3Operation = 'Other';
  if (!onObject && method === 'HEAD') operation = 'HeadBucket';
  else if (!onObject && method === 'GET' && q.get('list-type') === '2') operation = 'ListObjectsV2';
  else if (onObject && method === 'PUT') operation = q.has('uploadId') ? 'UploadPart' : 'PutObject';
  else if (onObject && method === 'GET') operation = 'GetObject';
  else if (onObject && method === 'HEAD') operation = 'HeadObject';
  else if (onObject && method === 'POST')
    operation = q.has('uploads') ? 'CreateMultipartUpload' : 'CompleteMultipartUpload';
  else if (onObject && method === 'DELETE') operation = q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
  return { operation, key };
}

function conditionsOf(req: IncomingMessage): S3Request['conditions'] {
  const conditions: NonNullable<S3Request['conditions']> = {};
  for (const name of ['if-match', 'if-none-match'] as const) {
    const value = req.headers[name];
    if (typeof value === 'string') conditions[name] = value;
  }
  return Object.keys(conditions).length > 0 ? conditions : undefined;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const rules: { rule: FaultRule; seen: number; broken: S3Request[] }[] = [];
  const stats: ProxyStats = { requests: {}, injected: {}, log: [] };
  const sockets = new Set<Socket>();

  const pick = (request: S3Request): FaultKind | undefined => {
    for (const entry of rules) {
      const { rule } = entry;
      if (rule.operation !== request.operation) continue;
      if (rule.key !== undefined) {
        const matches = typeof rule.key === 'string' ? rule.key === request.key : rule.key.test(request.key);
        if (!matches) continue;
      }
      entry.seen++;
      if (entry.seen <= (rule.times ?? 1)) {
        entry.broken.push(request);
        stats.injected[rule.kind] = (stats.injected[rule.kind] ?? 0) + 1;
        return rule.kind;
      }
    }
    return undefined;
  };

  const forward = (req: IncomingMessage, onResponse: (res: IncomingMessage) => void, onError: () => void): void => {
    const headers = { ...req.headers };
    // Not signed by SigV4; the proxy answers 100-continue itself and streams the body on.
    delete headers.expect;
    const out = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent: false },
      onResponse,
    );
    out.on('error', onError);
    req.pipe(out);
  };

  let gate: ((request: S3Request) => Promise<void>) | undefined;

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const request = classify(req.method ?? 'GET', req.url ?? '/');
    const conditions = conditionsOf(req);
    if (conditions) request.conditions = conditions;
    stats.requests[request.operation] = (stats.requests[request.operation] ?? 0) + 1;
    stats.log.push(request);
    if (gate) gate(request).then(() => handle(req, res, request));
    else handle(req, res, request);
  });

  const handle = (req: IncomingMessage, res: ServerResponse, request: S3Request): void => {
    const fault = pick(request);
    const reset = (): void => {
      req.socket.resetAndDestroy();
    };
    if (fault === '412' || fault === '500' || fault === '503') {
      const { status, code, message } = ERROR_XML[fault];
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>FAULT</RequestId></Error>`;
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    if (fault === 'reset') {
      reset();
      return;
    }
    if (fault === 'stall') {
      req.resume(); // read the body, never answer
      return;
    }
    forward(
      req,
      (answer) => {
        if (fault === 'reset-after') {
          answer.resume();
          answer.on('end', reset);
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (fault === 'truncate') {
          const half = Math.floor(Number(answer.headers['content-length'] ?? 0) / 2);
          let sent = 0;
          answer.on('data', (chunk: Buffer) => {
            if (sent >= half) return;
            const part = chunk.subarray(0, half - sent);
            res.write(part);
            sent += part.length;
            if (sent >= half) {
              answer.destroy();
              // Let the half body leave, then break the connection.
              setTimeout(reset, 20);
            }
          });
          return;
        }
        answer.pipe(res);
      },
      reset,
    );
  };
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    inject(rule) {
      const entry = { rule, seen: 0, broken: [] as S3Request[] };
      rules.push(entry);
      return entry.broken;
    },
    clear() {
      rules.length = 0;
    },
    holdWith(next) {
      gate = next;
    },
    stats,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
