/**
 * What S3 enforces, enforced by `npm start`'s folder store over HTTP (docs/embedded-store.md): presigned URLs bound
 * to their signature, method, key, length, checksum, expiry and write-once; no access without a signature; keys and
 * disk-full answers that leave the process up. Each refusal is checked to have stored nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { freshId } from '../support/fresh-id';
import { fillTheDisk } from '../support/full-disk';
import { type RawAnswer, send } from '../support/http';
import { type FolderStoreStack, startFolderStoreStack } from '../support/stack';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';

process.env.INLINE_LIMIT_BYTES = '1024';

let stack: FolderStoreStack;
beforeAll(async () => {
  stack = await startFolderStoreStack();
});
afterAll(async () => {
  await stack?.close();
});

async function grant(target: string, body: unknown): Promise<Record<string, unknown>> {
  const answer = await askUpload(stack.url, target, body);
  expect(answer.status).toBe(200);
  return answer.json();
}

/** Sends `method` to a URL (as given, no resolution of its path) with `headers`. */
function sendTo(url: string, method: string, headers: Record<string, string> = {}, body?: Buffer): Promise<RawAnswer> {
  const parsed = new URL(url);
  return send(parsed.origin, method, parsed.pathname + parsed.search, { headers, ...(body ? { body } : {}) });
}

function expectS3Error(answer: RawAnswer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.body.toString()).toContain(`<Code>${code}</Code>`);
}

describe('presigned upload URLs', () => {
  it('store the exact bytes with the signed headers, and the result is served', async () => {
    const name = `${freshId('ok')}.zip`;
    const body = randomBytes(5000);
    const upload = (await grant(`results/${name}`, { size: body.length })).upload as UploadGrant;
    expect((await putToPresignedUrl(upload, body)).status).toBe(200);
    expect(await stack.storedBytes(`results/${name}`)).toEqual(body);
  });

  it('refuse another length, another key, another method, a changed expiry or signature, and store nothing', async () => {
    const name = `${freshId('tamper')}.zip`;
    const body = randomBytes(2000);
    const upload = (await grant(`results/${name}`, { size: body.length })).upload as UploadGrant;
    const url = new URL(upload.url);
    const longer = Buffer.concat([body, Buffer.from('x')]);
    const attempts: [string, () => Promise<RawAnswer>, number, string][] = [
      [
        'another length',
        () => sendTo(upload.url, 'PUT', { 'Content-Length': String(longer.length) }, longer),
        403,
        'SignatureDoesNotMatch',
      ],
      [
        'another key',
        () => sendTo(upload.url.replace(name, `other_${name}`), 'PUT', upload.headers, body),
        403,
        'SignatureDoesNotMatch',
      ],
      [
        'a longer expiry',
        () => {
          const changed = new URL(url);
          changed.searchParams.set('X-Amz-Expires', '604800');
          return sendTo(changed.toString(), 'PUT', upload.headers, body);
        },
        403,
        'SignatureDoesNotMatch',
      ],
      [
        'another signature',
        () => {
          const changed = new URL(url);
          const signature = changed.searchParams.get('X-Amz-Signature') as string;
          changed.searchParams.set(
            'X-Amz-Signature',
            `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`,
          );
          return sendTo(changed.toString(), 'PUT', upload.headers, body);
        },
        403,
        'SignatureDoesNotMatch',
      ],
      // A GET carries no Content-Length, which the URL signs.
      ['the PUT URL used for GET', () => sendTo(upload.url, 'GET'), 403, 'AccessDenied'],
      [
        'no Content-Length',
        () => sendTo(upload.url, 'PUT', { 'Transfer-Encoding': 'chunked' }, body),
        403,
        'AccessDenied',
      ],
    ];
    for (const [label, attempt, status, code] of attempts) {
      const answer = await attempt();
      expect({ label, status: answer.status }).toEqual({ label, status });
      expectS3Error(answer, status, code);
    }
    expect(await stack.exists(`results/${name}`)).toBe(false);
    expect(await stack.exists(`results/other_${name}`)).toBe(false);
  });

  it('refuse bytes that do not match the signed SHA-1 (BadDigest), so nothing sits under a hash it does not have', async () => {
    const content = randomBytes(3000);
    const sha1 = createHash('sha1').update(content).digest('hex');
    const answer = await grant(`exercises/${sha1}`, { size: content.length });
    const upload = answer.upload as UploadGrant;
    const other = Buffer.from(content);
    other[0] = (other[0] as number) ^ 0xff;
    expectS3Error(await putToPresignedUrl(upload, other), 400, 'BadDigest');
    expect(await stack.exists(`tasks/${sha1[0]}/${sha1}`)).toBe(false);
    expect((await putToPresignedUrl(upload, content)).status).toBe(200);
    expect(await stack.storedBytes(`tasks/${sha1[0]}/${sha1}`)).toEqual(content);
  });

  it('are write-once where If-None-Match is signed: a replay is 412 and the first upload stays', async () => {
    const id = freshId('once');
    const first = Buffer.from('int main() { return 0; }\n');
    const answer = await grant(`submissions/${id}`, { files: { 'main.c': first.length } });
    const upload = (answer.files as Record<string, UploadGrant>)['main.c'] as UploadGrant;
    expect(new URL(upload.url).searchParams.get('X-Amz-SignedHeaders')?.split(';')).toContain('if-none-match');
    expect((await putToPresignedUrl(upload, first)).status).toBe(200);
    const replay = Buffer.from('int main() { return 1; }\n');
    expectS3Error(await putToPresignedUrl(upload, replay), 412, 'PreconditionFailed');
    // Dropping the signed If-None-Match breaks the signature instead.
    const { 'If-None-Match': _dropped, ...withoutCondition } = upload.headers;
    expectS3Error(await sendTo(upload.url, 'PUT', withoutCondition, replay), 403, 'AccessDenied');
    expect(await stack.storedBytes(`revisions/${id}/${answer.upload_id}/main.c`)).toEqual(first);
  });

  it('refuse a body cut short midway, and keep the previous result whole', async () => {
    const name = `${freshId('cut')}.zip`;
    const previous = randomBytes(1500);
    expect((await send(stack.url, 'PUT', `/results/${name}`, { body: previous })).status).toBe(200);
    const size = 4 * 1024 * 1024;
    const upload = (await grant(`results/${name}`, { size })).upload as UploadGrant;
    const url = new URL(upload.url);
    const { request } = await import('node:http');
    await new Promise<void>((done) => {
      const req = request({
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path: url.pathname + url.search,
        headers: upload.headers,
      });
      req.on('error', () => done());
      req.write(randomBytes(size / 2), () => {
        req.destroy();
        setTimeout(done, 200);
      });
    });
    expect(await stack.storedBytes(`results/${name}`)).toEqual(previous);
  });
});

describe('presigned download URLs', () => {
  it('serve the object, and Range within it', async () => {
    const name = `${freshId('dl')}.zip`;
    const body = randomBytes(4000);
    expect((await send(stack.url, 'PUT', `/results/${name}`, { body })).status).toBe(200);
    const redirect = await send(stack.url, 'GET', `/results/${name}`);
    expect(redirect.status).toBe(302);
    const location = String(redirect.headers.location);
    const whole = await sendTo(location, 'GET');
    expect(whole.status).toBe(200);
    expect(whole.body).toEqual(body);
    expect(whole.headers['content-disposition']).toBe(`attachment; filename="${name}"`);
    const part = await sendTo(location, 'GET', { Range: 'bytes=100-199' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 100-199/4000');
    expect(part.body).toEqual(body.subarray(100, 200));
    expectS3Error(await sendTo(location, 'GET', { Range: 'bytes=5000-' }), 416, 'InvalidRange');
    // Bound to GET and to the key.
    expectS3Error(
      await sendTo(location, 'PUT', { 'Content-Length': '1' }, Buffer.from('x')),
      403,
      'SignatureDoesNotMatch',
    );
    expectS3Error(await sendTo(location.replace(name, `x${name}`), 'GET'), 403, 'SignatureDoesNotMatch');
    expect(await stack.storedBytes(`results/${name}`)).toEqual(body);
  });
});

describe('a presigned URL answers only what it was signed for', () => {
  /** A result above this file's 1 KiB inline limit, and the `Location` its GET redirects to, split at `?`. */
  async function redirected(prefix: string): Promise<{ name: string; body: Buffer; path: string; query: string }> {
    const name = `${freshId(prefix)}.zip`;
    const body = randomBytes(4000);
    expect((await send(stack.url, 'PUT', `/results/${name}`, { body })).status).toBe(200);
    const redirect = await send(stack.url, 'GET', `/results/${name}`);
    expect(redirect.status).toBe(302);
    const location = new URL(String(redirect.headers.location));
    return { name, body, path: `${location.origin}${location.pathname}`, query: location.search.slice(1) };
  }

  it('refuses a repeated parameter wherever it stands, and a parameter added or changed, and serves none of them', async () => {
    const { name, body, path, query } = await redirected('repurpose');
    const credential = new URLSearchParams(query).get('X-Amz-Credential') as string;
    const otherScope = credential.replace(/\/\d{8}\//, '/20991231/');
    const variants: [string, string][] = [
      // The example: inline HTML from the server's own origin.
      [
        'inline HTML put before the query',
        `response-content-type=text%2Fhtml&response-content-disposition=inline&${query}`,
      ],
      ['response-content-type repeated after the query', `${query}&response-content-type=text%2Fhtml`],
      ['a repeated name written percent-encoded', `response%2Dcontent%2Dtype=text%2Fhtml&${query}`],
      ['X-Amz-Expires repeated first', `X-Amz-Expires=604800&${query}`],
      ['X-Amz-Signature repeated first', `X-Amz-Signature=${'0'.repeat(64)}&${query}`],
      ['X-Amz-Signature repeated last', `${query}&X-Amz-Signature=${'0'.repeat(64)}`],
      ['a signed parameter repeated with its own value', `${query}&x-id=GetObject`],
      ['response-cache-control added', `${query}&response-cache-control=public`],
      ['response-content-encoding added', `${query}&response-content-encoding=gzip`],
      ['response-content-language added', `${query}&response-content-language=en`],
      ['response-expires added', `${query}&response-expires=0`],
      ['a parameter without a value added', `${query}&acl`],
      ['X-Amz-Content-Sha256 changed', query.replace('UNSIGNED-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER')],
      ['the credential scope changed', query.replace(encodeURIComponent(credential), encodeURIComponent(otherScope))],
      ['a space of the disposition sent as +', query.replace(/(response-content-disposition=[^&]*?)%20/, '$1+')],
    ];
    const answers = [];
    for (const [label, changed] of variants) {
      expect({ label, changed: changed !== query }).toEqual({ label, changed: true });
      const answer = await sendTo(`${path}?${changed}`, 'GET');
      answers.push({
        label,
        status: answer.status,
        contentType: answer.headers['content-type'],
        servedTheFile: answer.body.includes(body.subarray(0, 64)),
      });
    }
    expect(answers).toEqual(
      variants.map(([label]) => ({ label, status: 403, contentType: 'application/xml', servedTheFile: false })),
    );
    // The URL as signed is still served, as signed.
    const served = await sendTo(`${path}?${query}`, 'GET');
    expect(served.status).toBe(200);
    expect(served.body).toEqual(body);
    expect(served.headers['content-disposition']).toBe(`attachment; filename="${name}"`);
  });

  it('refuses a presigned PUT with a repeated parameter, and stores nothing', async () => {
    const name = `${freshId('put-twice')}.zip`;
    const body = randomBytes(2000);
    const upload = (await grant(`results/${name}`, { size: body.length })).upload as UploadGrant;
    const url = new URL(upload.url);
    const query = url.search.slice(1);
    for (const changed of [
      `X-Amz-Expires=604800&${query}`,
      `X-Amz-SignedHeaders=host&${query}`,
      `${query}&X-Amz-Date=20991231T000000Z`,
    ]) {
      const answer = await sendTo(`${url.origin}${url.pathname}?${changed}`, 'PUT', upload.headers, body);
      expectS3Error(answer, 403, 'AccessDenied');
    }
    expect(await stack.exists(`results/${name}`)).toBe(false);
  });
});

describe('Range on a presigned URL, as on the routes', () => {
  it('answers every Range header with the same status, Content-Range and bytes as the route serving the file inline', async () => {
    const name = `${freshId('ranges')}.zip`;
    const body = randomBytes(1000); // within this file's 1 KiB inline limit: the route serves it itself
    expect((await send(stack.url, 'PUT', `/results/${name}`, { body })).status).toBe(200);
    const inline = await send(stack.url, 'GET', `/results/${name}`);
    expect(inline.status).toBe(200);
    const etag = String(inline.headers.etag);
    const lastModified = String(inline.headers['last-modified']);
    const url = await stack.folderStore?.presignGet(`results/${name}`, { filename: name });
    expect(url).toBeDefined();
    // [Range, If-Range, the status both must give]
    const table: [string, string | undefined, number][] = [
      ['bytes=0-99', undefined, 206],
      ['bytes=900-', undefined, 206],
      ['bytes=-100', undefined, 206],
      ['bytes=-1000', undefined, 206],
      ['bytes=-5000', undefined, 206], // a suffix longer than the file is all of it (RFC 9110 §14.1.3)
      ['bytes=0-99999', undefined, 206],
      ['bytes=999-999', undefined, 206],
      ['BYTES=0-9', undefined, 206],
      ['bytes= 0-9', undefined, 206],
      ['bytes=,0-9', undefined, 206],
      ['bytes=1000-', undefined, 416],
      ['bytes=-0', undefined, 416],
      ['bytes=1e3-2e3', undefined, 200], // not a byte range at all
      ['bytes=0x10-0x20', undefined, 200],
      ['bytes=+1-2', undefined, 200],
      ['bytes=5-2', undefined, 200],
      ['bytes=0-0,5-9', undefined, 200],
      ['bytes=', undefined, 200],
      ['items=0-9', undefined, 200],
      ['bytes=0-9', etag, 206],
      ['bytes=0-9', '"stale"', 200],
      ['bytes=0-9', lastModified, 206],
      ['bytes=0-9', 'Thu, 01 Jan 1970 00:00:00 GMT', 200],
    ];
    const seen = [];
    for (const [range, ifRange] of table) {
      const headers = { Range: range, ...(ifRange ? { 'If-Range': ifRange } : {}) };
      const answers = [
        await send(stack.url, 'GET', `/results/${name}`, { headers }),
        await sendTo(url as string, 'GET', headers),
      ];
      const [route, presigned] = answers.map((answer) => ({
        range,
        ifRange,
        status: answer.status,
        contentRange: answer.headers['content-range'],
        bytes: answer.status === 416 ? undefined : createHash('sha1').update(answer.body).digest('hex'),
      }));
      seen.push({ route, presigned });
    }
    // The route follows RFC 9110 §14 (test/unit/http-semantics.test.ts has the details); the presigned URL must agree.
    expect(seen.map(({ route }) => [route?.range, route?.ifRange, route?.status])).toEqual(table);
    expect(seen.map(({ presigned }) => presigned)).toEqual(seen.map(({ route }) => route));
  });
});

describe('without a signature', () => {
  it('nothing can be read, listed or written directly', async () => {
    const name = `${freshId('direct')}.zip`;
    expect((await send(stack.url, 'PUT', `/results/${name}`, { body: Buffer.from('secret result') })).status).toBe(200);
    const base = `/${stack.bucket}`;
    expectS3Error(await send(stack.url, 'GET', `${base}/results/${name}`), 403, 'AccessDenied');
    expect((await send(stack.url, 'HEAD', `${base}/results/${name}`)).status).toBe(403);
    expectS3Error(await send(stack.url, 'GET', `${base}/?list-type=2`), 403, 'AccessDenied');
    expectS3Error(await send(stack.url, 'GET', base), 403, 'AccessDenied');
    expectS3Error(
      await send(stack.url, 'PUT', `${base}/results/${name}`, { body: Buffer.from('overwritten') }),
      403,
      'AccessDenied',
    );
    expectS3Error(await send(stack.url, 'DELETE', `${base}/results/${name}`), 405, 'MethodNotAllowed');
    // SigV4 in an Authorization header (an S3 client with guessed credentials) is not served either.
    expectS3Error(
      await send(stack.url, 'GET', `${base}/results/${name}`, {
        headers: { Authorization: 'AWS4-HMAC-SHA256 Credential=S3RVER/20260101/us-east-1/s3/aws4_request' },
      }),
      403,
      'AccessDenied',
    );
    expect((await stack.storedBytes(`results/${name}`)).toString()).toBe('secret result');
  });
});

describe('no valid input stops the process', () => {
  it('stores submissions whose path segments reach the protocol’s limits, and names like the store’s own files', async () => {
    const id = freshId('long');
    const paths = [
      `${'a'.repeat(241)}/main.c`,
      `${'b'.repeat(255)}`,
      `${'c'.repeat(256)}/x`,
      `d/${'e'.repeat(795)}`,
      'x._S3rver_object/y',
      'x._S3rver_metadata.json',
      'tmp/lock',
      '%2e%2e',
    ];
    const boundary = 'b0undary';
    const parts = paths.map(
      (path, i) => `--${boundary}\r\nContent-Disposition: form-data; name="${path}"; filename="f"\r\n\r\nfile ${i}\r\n`,
    );
    const body = Buffer.from(`${parts.join('')}--${boundary}--\r\n`);
    const answer = await send(stack.url, 'POST', `/submissions/${id}`, {
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    expect(answer.status).toBe(200);
    const archive = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
    expect(archive.status).toBe(302); // above this file's 1 KiB inline limit
    const zip = await sendTo(String(archive.headers.location), 'GET');
    expect(zip.status).toBe(200);
    expect(zip.body.subarray(0, 4)).toEqual(Buffer.from('PK\x03\x04', 'latin1'));
    // `x` after `x._S3rver_object/y`: what made s3rver throw EISDIR.
    const second = await send(stack.url, 'POST', `/submissions/${freshId('x')}`, {
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
      body: Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="x._S3rver_object"; filename="f"\r\n\r\nx\r\n--${boundary}--\r\n`,
      ),
    });
    expect(second.status).toBe(200);
    expect((await send(stack.url, 'GET', '/')).status).toBe(200);
  });

  it('answers a full disk with 507, keeps the previous result, and serves on', async () => {
    const name = `${freshId('full')}.zip`;
    expect((await send(stack.url, 'PUT', `/results/${name}`, { body: Buffer.from('previous') })).status).toBe(200);
    // The file system's ENOSPC, injected where write(2) returns it (a real full disk needs privileges here).
    const refused = randomBytes(1000);
    const restore = await fillTheDisk('once', refused);
    try {
      const answer = await send(stack.url, 'PUT', `/results/${name}`, { body: refused });
      expect(answer.status).toBe(507);
      expect(answer.json<{ error: { code: string } }>().error.code).toBe('storage-full');
    } finally {
      restore();
    }
    expect((await stack.storedBytes(`results/${name}`)).toString()).toBe('previous');
    expect((await send(stack.url, 'GET', '/')).status).toBe(200);
    const later = randomBytes(2000);
    expect((await send(stack.url, 'PUT', `/results/${name}`, { body: later })).status).toBe(200);
    expect(await stack.storedBytes(`results/${name}`)).toEqual(later);
  });
});
