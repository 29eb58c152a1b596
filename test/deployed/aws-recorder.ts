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
): Promise<Recorder> {
  const server: Server = createServer((req, res) => {
    const fn = functionsByKey.get(accessKeyOf(req) ?? '');
    const chunks: Buffer[] = [];
    const isSsm = /^Amazon(SSM|SQS)\./.test(String(req.headers['x-amz-target'] ?? ''));
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
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
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
