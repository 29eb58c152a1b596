/**
 * A recording proxy in front of LocalStack: every function's AWS_ENDPOINT_URL points here, and each function signs
 * with its own access key id, so every AWS call the packaged code makes (and every request made with a URL it
 * presigned, which S3 runs with that function's role) is recorded under that function as service, IAM action and
 * resource ARN, then forwarded unchanged. The Host header is kept, so LocalStack checks the signatures the function
 * computed. Requests signed with another key (the tests' own look into the bucket) pass unrecorded.
 *
 * S3 REST requests map to IAM actions as the Service Authorization Reference for S3 lists them: HEAD of an object
 * needs s3:GetObject, HEAD of a bucket s3:ListBucket, every step of a multipart upload s3:PutObject except its abort.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AwsCall {
  /** The function whose proxy saw the call. */
  fn: string;
  service: string;
  action: string;
  resource: string;
  /** The request as it arrived, for the report of a call that could not be mapped or was denied. */
  request: string;
}

/** One S3 request a function sent itself (signed in its headers, not with a URL it presigned), and its answer. */
export interface S3Exchange {
  fn: string;
  method: string;
  /** The request as it arrived, without the query's values (`GET /bucket/key`, `GET /bucket?list-type&prefix`). */
  request: string;
  /** `performance.now()` when it arrived, and when its answer's headers went back to the function. */
  arrivedAt: number;
  answeredAt: number;
  /** With a hold (`holdS3Ms`): the round it was answered in, numbered across all functions. */
  round?: number;
}

export interface RecorderOptions {
  /**
   * S3's latency inside a region, which LocalStack on the same host does not have (bench/deployed.ts): every S3
   * request a function signs itself is answered this many ms after the last of the requests it sent together with
   * it, and never before LocalStack answered (`S3Latency`).
   */
  holdS3Ms?: number;
  /** Where each such S3 request is appended once answered. */
  exchanges?: S3Exchange[];
}

export interface Recorder {
  endpoint: string;
  close(): Promise<void>;
}

export interface RecorderTarget {
  host: string;
  port: number;
  region: string;
  accountId: string;
  partition: string;
}

/** The access key id a request was signed with (header or presigned query), if any. */
function accessKeyOf(req: {
  url?: string;
  headers: Record<string, string | string[] | undefined>;
}): string | undefined {
  const header = String(req.headers.authorization ?? '');
  const fromHeader = /Credential=([^/]+)\//.exec(header)?.[1];
  if (fromHeader) return fromHeader;
  const query = new URL(req.url ?? '/', 'http://proxy').searchParams.get('X-Amz-Credential');
  return query?.split('/')[0];
}

/** Starts the proxy; a call signed with a key of `functionsByKey` is appended to `calls` under that function. */
export async function startRecorder(
  functionsByKey: ReadonlyMap<string, string>,
  target: RecorderTarget,
  calls: AwsCall[],
  options: RecorderOptions = {},
): Promise<Recorder> {
  const latency = new S3Latency(options.holdS3Ms ?? 0);
  const server: Server = createServer((req, res) => {
    const arrivedAt = performance.now();
    const fn = functionsByKey.get(accessKeyOf(req) ?? '');
    const chunks: Buffer[] = [];
    const isSsm = /^Amazon(SSM|SQS)\./.test(String(req.headers['x-amz-target'] ?? ''));
    // An S3 request the function signed itself: one its own code sent (a presigned URL carries the key in its query).
    const ownS3 = fn !== undefined && !isSsm && String(req.headers.authorization ?? '').includes('Credential=');
    const held = ownS3 ? latency.join(fn as string) : undefined;
    // S3 bodies stream through; the small JSON bodies of SSM and SQS are read first, to name the resource.
    if (isSsm) req.on('data', (chunk: Buffer) => chunks.push(chunk));
    const forward = (body?: Buffer) => {
      const call = fn ? describe(fn, req.method ?? 'GET', req.url ?? '/', req.headers, body, target) : undefined;
      if (call) calls.push(call);
      const upstream = request(
        { host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          // S3 answers a missing key 404 only to a caller that may list the bucket, else 403 (S3 API reference,
          // GetObject, "Permissions"): a 404 the function relies on is a use of s3:ListBucket.
          if (call?.action === 's3:GetObject' && answer.statusCode === 404) {
            const bucketArn = call.resource.slice(0, call.resource.indexOf('/'));
            calls.push({ ...call, action: 's3:ListBucket', resource: bucketArn, request: `404 of ${call.request}` });
          }
          const reply = (): void => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
            if (ownS3) {
              // The path and the names of the query's parameters (a listing is `?list-type=2`), no signature.
              const [path, query = ''] = (req.url ?? '/').split('?');
              const names = [...new URLSearchParams(query).keys()].join('&');
              const request = `${req.method} ${path}${names ? `?${names}` : ''}`;
              options.exchanges?.push({
                fn: fn as string,
                method: req.method ?? 'GET',
                request,
                arrivedAt,
                answeredAt: performance.now(),
                ...(held?.round !== undefined ? { round: held.round } : {}),
              });
            }
          };
          if (held) held.released.then(reply);
          else reply();
        },
      );
      upstream.on('error', () => res.destroy());
      if (body) upstream.end(body);
      else req.pipe(upstream);
    };
    if (isSsm) req.on('end', () => forward(Buffer.concat(chunks)));
    else forward();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/**
 * Holds a function's S3 answers as S3's latency would. The requests a function sends less than `holdMs` apart form a
 * round, and the whole round is answered `holdMs` after its last request arrived: as S3 answers a request tens of
 * milliseconds after it was sent, a round's last answer comes that long after its last request. A request can only
 * depend on an answer it has seen, and none is seen before its round ends, so a request that arrives while a round
 * is open belongs with it, and the rounds an operation's requests fall into are its S3 round trips in a row (its
 * depth, docs/benchmarks.md). With no hold, requests pass at once and have no round.
 */
class S3Latency {
  private readonly open = new Map<string, Round>();
  private rounds = 0;

  constructor(private readonly holdMs: number) {}

  /** The round of a request `fn` sent now, and when its answer may go back; none without a hold. */
  join(fn: string): { round: number; released: Promise<void> } | undefined {
    if (this.holdMs <= 0) return undefined;
    const round = this.open.get(fn) ?? this.start(fn);
    clearTimeout(round.timer);
    round.timer = setTimeout(() => {
      this.open.delete(fn);
      round.release();
    }, this.holdMs);
    return { round: round.id, released: round.released };
  }

  private start(fn: string): Round {
    let release = (): void => undefined;
    const released = new Promise<void>((done) => {
      release = done;
    });
    const round: Round = { id: ++this.rounds, release, released, timer: undefined };
    this.open.set(fn, round);
    return round;
  }
}

interface Round {
  id: number;
  release: () => void;
  released: Promise<void>;
  timer: NodeJS.Timeout | undefined;
}

function describe(
  fn: string,
  method: string,
  url: string,
  headers: Record<string, string | string[] | undefined>,
  body: Buffer | undefined,
  target: RecorderTarget,
): AwsCall {
  const asSent = `${method} ${url.split('?')[0]}${url.includes('?') ? `?${redactQuery(url)}` : ''}`;
  const target_ = String(headers['x-amz-target'] ?? '');
  if (target_.startsWith('AmazonSSM.')) {
    const action = target_.slice('AmazonSSM.'.length);
    const name = String((JSON.parse(body?.toString('utf8') || '{}') as { Name?: string }).Name ?? '');
    const path = name.startsWith('/') ? name : `/${name}`;
    const resource = `arn:${target.partition}:ssm:${target.region}:${target.accountId}:parameter${path}`;
    return { fn, service: 'ssm', action: `ssm:${action}`, resource, request: `${asSent} ${target_}` };
  }
  if (target_.startsWith('AmazonSQS.')) {
    const action = target_.slice('AmazonSQS.'.length);
    const queueUrl = String((JSON.parse(body?.toString('utf8') || '{}') as { QueueUrl?: string }).QueueUrl ?? '');
    const name = queueUrl.split('/').pop() ?? '';
    const resource = `arn:${target.partition}:sqs:${target.region}:${target.accountId}:${name}`;
    return { fn, service: 'sqs', action: `sqs:${action}`, resource, request: `${asSent} ${target_}` };
  }
  const parsed = new URL(url, 'http://proxy');
  const [, bucket = '', ...rest] = parsed.pathname.split('/');
  const key = rest.map(decodeURIComponent).join('/');
  const query = parsed.searchParams;
  const objectArn = `arn:${target.partition}:s3:::${bucket}/${key}`;
  const bucketArn = `arn:${target.partition}:s3:::${bucket}`;
  const s3 = (action: string, resource: string): AwsCall => ({
    fn,
    service: 's3',
    action: `s3:${action}`,
    resource,
    request: asSent,
  });
  if (!bucket) return s3(`unmapped(${method} /)`, 'unknown');
  if (!key) {
    if (method === 'HEAD' || (method === 'GET' && (query.has('list-type') || query.size === 0))) {
      return s3('ListBucket', bucketArn);
    }
    if (method === 'GET' && query.has('uploads')) return s3('ListBucketMultipartUploads', bucketArn);
    return s3(`unmapped(${method} bucket ${[...query.keys()].join('&')})`, bucketArn);
  }
  switch (method) {
    case 'GET':
      if (query.has('uploadId')) return s3('ListMultipartUploadParts', objectArn);
      if (query.has('tagging')) return s3('GetObjectTagging', objectArn);
      return s3('GetObject', objectArn);
    case 'HEAD':
      return s3('GetObject', objectArn);
    case 'PUT':
      if (headers['x-amz-copy-source']) return s3('PutObject(copy)', objectArn);
      return s3('PutObject', objectArn);
    case 'POST':
      return s3('PutObject', objectArn); // CreateMultipartUpload (?uploads) and CompleteMultipartUpload (?uploadId)
    case 'DELETE':
      return s3(query.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject', objectArn);
    default:
      return s3(`unmapped(${method})`, objectArn);
  }
}

/** The query with signatures and credentials left out (the report prints requests). */
function redactQuery(url: string): string {
  const query = new URLSearchParams(url.slice(url.indexOf('?') + 1));
  for (const name of [...query.keys()]) {
    if (/signature|credential|security-token/i.test(name)) query.set(name, '…');
  }
  return query.toString();
}
