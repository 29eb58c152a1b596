/**
 * The smoke test's HTTP client (docs/deploy.md, step 7): one request, bounded in time, and when it fails, a hint at
 * the likely cause in a deployment's terms. It speaks only HTTP, to the fileserver and to the presigned storage URLs
 * the fileserver hands out, as the ReCodEx API and workers do.
 */

export interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
  /** The body as the fileserver's JSON, if it is JSON. */
  json(): unknown;
}

/** A check that failed: what was seen, and what the operator should look at. */
export class SmokeFailure extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** Who answers: the fileserver (through API Gateway in a deployment), or storage (a presigned S3 URL). */
export type Peer = 'fileserver' | 'storage';

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | FormData | string;
  /** Send the Basic credentials (only ever to the fileserver). */
  authorization?: string;
  timeoutMs: number;
  peer: Peer;
}

export async function request(url: string, options: RequestOptions): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.authorization) headers.Authorization = options.authorization;
  let response: Response;
  let body: Buffer;
  try {
    response = await fetch(url, {
      method: options.method ?? 'GET',
      headers,
      body: options.body,
      // A redirect is a check of its own (a download above the inline limit), never followed with the credentials.
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    body = Buffer.from(await response.arrayBuffer());
  } catch (err) {
    throw unreachable(url, err, options);
  }
  return {
    status: response.status,
    headers: response.headers,
    body,
    json: () => JSON.parse(body.toString('utf8')) as unknown,
  };
}

/** An answer other than the expected one, explained. */
export function unexpected(answer: Answer, expected: string, peer: Peer): SmokeFailure {
  const error = errorOf(answer);
  const said = error ? ` ${error.code ? `${error.code}: ` : ''}${error.message}` : '';
  return new SmokeFailure(`expected ${expected}, got ${answer.status}${said}`, hintFor(answer.status, peer, error));
}

/** The fileserver's JSON error (docs/protocol.md §5), or API Gateway's `{"message": …}`. */
function errorOf(answer: Answer): { code?: string; message: string } | undefined {
  try {
    const body = answer.json() as { error?: { code?: string; message?: string }; message?: string; Message?: string };
    if (body.error?.message) return { code: body.error.code, message: body.error.message };
    const message = body.message ?? body.Message;
    return message ? { message } : undefined;
  } catch {
    const text = answer.body.toString('utf8', 0, 200).trim();
    return text ? { message: text } : undefined;
  }
}

function hintFor(status: number, peer: Peer, error: { code?: string } | undefined): string {
  if (peer === 'storage') {
    if (status === 403) {
      return 'storage refused the presigned URL: it expired (is this clock right?), the headers sent differ from the signed ones, or the function that signed it may not write or read that key';
    }
    return 'storage answered the presigned URL with an error (the fileserver signed it; see its log)';
  }
  if (status === 401) {
    return 'wrong credentials: use the username and password stored in the SSM parameter that credentialsParameter names (locally: what npm start was given)';
  }
  if (status === 403) {
    return "API Gateway refused the call: it did not come through one of the stack's vpcEndpointIds (the resource policy), or this is the private-DNS BaseUrl and the VPC endpoint has private DNS off (use the BaseUrlVpce… output); run the smoke test from inside the VPC";
  }
  if (status === 404 && error?.code === 'no-such-route') {
    return 'no such route: the URL must be the BaseUrl output, stage included (…/prod)';
  }
  if (error?.code === 'credentials-unavailable') {
    return 'the functions cannot read credentialsParameter: check its name, that it is a SecureString in this region, and that it is not encrypted with a customer managed key';
  }
  if (error?.code === 'storage-unavailable' || error?.code === 'bucket-missing') {
    return 'the functions cannot reach the bucket: see the function logs (CloudWatch) and the bucket named by the FilesBucketName output';
  }
  if (status >= 500) return 'the fileserver failed: its log (the function log group in CloudWatch) names the error';
  return 'an answer the fileserver should not give here: see docs/protocol.md for the route';
}

function unreachable(url: string, err: unknown, options: RequestOptions): SmokeFailure {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const host = new URL(url).host;
  const what = options.peer === 'storage' ? 'storage (a presigned URL)' : 'the fileserver';
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new SmokeFailure(
      `${what} at ${host} did not answer within ${options.timeoutMs / 1000} s`,
      options.peer === 'storage'
        ? 'storage is not reachable from here: without a NAT gateway, the subnets need the S3 gateway endpoint (docs/deploy.md, step 2)'
        : "a timeout: this machine must be in the VPC, the execute-api endpoint's security group must allow HTTPS from it, and the name must resolve to the endpoint (DNS)",
    );
  }
  const code = e.cause?.code ?? '';
  const detail = `${code || e.cause?.message || e.message}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new SmokeFailure(
      `${host} does not resolve (${detail})`,
      'DNS: the private-DNS BaseUrl resolves only inside the VPC, and only with private DNS on the execute-api endpoint; use the BaseUrlVpce… output, or run from inside the VPC',
    );
  }
  if (code === 'ECONNREFUSED') {
    return new SmokeFailure(`${host} refused the connection`, 'nothing listens there: check the URL and its port');
  }
  if (code.startsWith('ERR_TLS') || code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
    return new SmokeFailure(
      `TLS with ${host} failed (${detail})`,
      "the name does not match the endpoint's certificate: use the URL of the stack's outputs as it is",
    );
  }
  return new SmokeFailure(
    `${what} at ${host} could not be reached (${detail})`,
    'the network path to the endpoint: DNS, the VPC endpoint and its security group',
  );
}
