import { randomBytes } from 'node:crypto';
import { BadRequestError, UnsupportedMediaTypeError } from '../../lib/errors';
import { type FilePart, rejectDuplicateFields } from '../../lib/fileserver/file-parts';
import { parseFileParts } from '../../lib/http/multipart';
import { file, multipart } from '../support/multipart';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

describe('parseFileParts', () => {
  it('returns the file parts in order with their exact bytes', async () => {
    // Bytes a naive parser trips on: CRLFs, dashes, and a prefix of a boundary line.
    const tricky = Buffer.concat([
      Buffer.from('\r\n--'),
      Buffer.from('\r\n------test'),
      randomBytes(4096),
      Buffer.from('\r\n\r\n--\r\n'),
      Buffer.from([0, 0xff, 0x0d, 0x0a, 0x2d, 0x2d]),
    ]);
    const binary = randomBytes(64 * 1024);
    const { body, contentType } = multipart([
      file('main.c', 'int main(void) { return 0; }\n'),
      file('data/tricky.bin', tricky),
      file('data/random.bin', binary),
      file('job-config.yml', '---\nsubmission:\n  job-id: x\n'),
    ]);
    const parts = await parseFileParts(contentType, body);
    expect(parts.map((p) => p.field)).toEqual(['main.c', 'data/tricky.bin', 'data/random.bin', 'job-config.yml']);
    expect(parts[0]?.data.toString('utf8')).toBe('int main(void) { return 0; }\n');
    expect(parts[1]?.data.equals(tricky)).toBe(true);
    expect(parts[2]?.data.equals(binary)).toBe(true);
    expect(parts[3]?.data.toString('utf8')).toBe('---\nsubmission:\n  job-id: x\n');
  });

  it('keeps a part that ends in the very bytes of its boundary minus the last character', async () => {
    const first = multipart([file('a', 'x')]);
    const boundary = /boundary=(.*)$/.exec(first.contentType)?.[1] ?? '';
    const data = Buffer.from(`\r\n--${boundary.slice(0, -1)}`);
    const body = Buffer.from(
      first.body.toString('latin1').replace('\r\n\r\nx\r\n', `\r\n\r\n${data.toString('latin1')}\r\n`),
      'latin1',
    );
    const parts = await parseFileParts(first.contentType, body);
    expect(parts).toHaveLength(1);
    expect(parts[0]?.data.equals(data)).toBe(true);
  });

  it('skips text fields (parts without a filename)', async () => {
    const { body, contentType } = multipart([
      { name: 'note', data: 'just a text field' },
      file('main.c', 'code'),
      { name: 'another', data: 'text' },
    ]);
    const parts = await parseFileParts(contentType, body);
    expect(parts).toEqual([{ field: 'main.c', data: Buffer.from('code') }]);
  });

  it('uses the field name, not the filename', async () => {
    const { body, contentType } = multipart([{ name: 'sub/dir/x.txt', filename: 'other.bin', data: 'x' }]);
    const parts = await parseFileParts(contentType, body);
    expect(parts.map((p) => p.field)).toEqual(['sub/dir/x.txt']);
  });

  it.each([['složka/ž.c'], ['日本語/ファイル.txt'], ['emoji-🐎.txt']])(
    'decodes the UTF-8 field name %j',
    async (name) => {
      const { body, contentType } = multipart([file(name, 'x')]);
      const parts = await parseFileParts(contentType, body);
      expect(parts.map((p) => p.field)).toEqual([name]);
    },
  );

  it.each([[801], [1000], [4000]])('passes a %d-byte field name through untruncated', async (bytes) => {
    const name = `${'d/'.repeat(Math.floor((bytes - 1) / 2))}${'x'.repeat(bytes % 2 === 0 ? 2 : 1)}`;
    expect(Buffer.byteLength(name)).toBe(bytes);
    const { body, contentType } = multipart([file(name, 'x')]);
    const parts = await parseFileParts(contentType, body);
    expect(parts.map((p) => p.field)).toEqual([name]);
  });

  it('passes a multibyte field name over 800 bytes through untruncated', async () => {
    const name = 'ž'.repeat(401);
    const { body, contentType } = multipart([file(name, 'x')]);
    const parts = await parseFileParts(contentType, body);
    expect(parts[0]?.field).toBe(name);
  });

  it('passes hostile field names through unchanged for the path check to judge', async () => {
    const names = ['../../etc/passwd', '/abs', 'a\\b', 'C:\\x'];
    const { body, contentType } = multipart(names.map((name) => file(name, 'x')));
    const parts = await parseFileParts(contentType, body);
    expect(parts.map((p) => p.field)).toEqual(names);
  });

  it.each([
    ['\\xff\\xfe.c (the issue’s example)', Buffer.from([0xff, 0xfe, 0x2e, 0x63])],
    ['a Latin-1 é', Buffer.from('caf\xe9.c', 'latin1')],
    ['a truncated sequence', Buffer.from([0x61, 0xe2, 0x82])],
    ['an overlong /', Buffer.from([0x61, 0xc0, 0xaf, 0x62])],
    ['an encoded surrogate', Buffer.from([0xed, 0xa0, 0x80, 0x2e, 0x63])],
    ['a code point past U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
  ])('refuses a field name that is not UTF-8 (%s) with 400 invalid-path naming the encoding', async (_what, name) => {
    const { body, contentType } = multipart([file('ok.c', 'x'), { name, data: 'y', filename: 'f' }]);
    const err = await rejection(parseFileParts(contentType, body));
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).toMatchObject({ statusCode: 400, code: 'invalid-path' });
    expect((err as Error).message).toMatch(/part 2 .* is not valid UTF-8/);
  });

  it('names the bytes that are not UTF-8 in the message', async () => {
    const { body, contentType } = multipart([
      { name: Buffer.from([0xff, 0xfe, 0x2e, 0x63]), data: 'y', filename: 'f' },
    ]);
    const err = await rejection(parseFileParts(contentType, body));
    expect((err as Error).message).toContain('\\xff\\xfe.c');
  });

  it('passes UTF-8 names of every length of sequence through unchanged, a leading U+FEFF included', async () => {
    const names = ['a\u00e9.c', '\u20ac/\u65e5\u672c.txt', '\u{1F600}.py', '\uFEFFbom.c', '\uFFFD.txt'];
    const { body, contentType } = multipart(names.map((name) => file(name, 'x')));
    const parts = await parseFileParts(contentType, body);
    expect(parts.map((p) => p.field)).toEqual(names);
  });

  it('returns a 0-byte file part with empty data', async () => {
    const { body, contentType } = multipart([file('empty.txt', ''), file('after.txt', 'y')]);
    const parts = await parseFileParts(contentType, body);
    expect(parts).toHaveLength(2);
    expect(parts[0]?.field).toBe('empty.txt');
    expect(parts[0]?.data).toHaveLength(0);
    expect(parts[1]?.data.toString()).toBe('y');
  });

  it('returns no parts for a body with only text fields', async () => {
    const { body, contentType } = multipart([{ name: 'a', data: 'b' }]);
    await expect(parseFileParts(contentType, body)).resolves.toEqual([]);
  });

  it('keeps both parts of a duplicate field name (rejectDuplicateFields decides)', async () => {
    const { body, contentType } = multipart([file('a.c', '1'), file('a.c', '2')]);
    const parts = await parseFileParts(contentType, body);
    expect(parts.map((p) => p.data.toString())).toEqual(['1', '2']);
  });

  it('accepts the media type in any case', async () => {
    const { body, contentType } = multipart([file('a.c', '1')]);
    const parts = await parseFileParts(contentType.replace('multipart/form-data', 'Multipart/Form-Data'), body);
    expect(parts.map((p) => p.field)).toEqual(['a.c']);
  });

  it.each([
    ['a missing Content-Type', undefined],
    ['an empty Content-Type', ''],
    ['application/json', 'application/json'],
    ['application/octet-stream', 'application/octet-stream'],
    ['multipart/mixed', 'multipart/mixed; boundary=x'],
    ['urlencoded form', 'application/x-www-form-urlencoded'],
  ])('refuses %s with 415 not-multipart', async (_what, type) => {
    const { body } = multipart([file('a.c', '1')]);
    const err = await rejection(parseFileParts(type, body));
    expect(err).toBeInstanceOf(UnsupportedMediaTypeError);
    expect(err).toMatchObject({ statusCode: 415, code: 'not-multipart' });
  });

  it('refuses multipart/form-data without a boundary parameter with 400 bad-multipart', async () => {
    const { body } = multipart([file('a.c', '1')]);
    const err = await rejection(parseFileParts('multipart/form-data; charset=utf-8', body));
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).toMatchObject({ statusCode: 400, code: 'bad-multipart' });
  });

  it('refuses a bare multipart/form-data (no parameters) with 400 bad-multipart', async () => {
    const { body } = multipart([file('a.c', '1')]);
    const err = await rejection(parseFileParts('multipart/form-data', body));
    expect(err).toMatchObject({ statusCode: 400, code: 'bad-multipart' });
  });

  it.each([
    [
      'without the final boundary',
      (b: Buffer, boundary: string) => b.subarray(0, b.length - `--${boundary}--\r\n`.length),
    ],
    ['cut inside a file', (b: Buffer) => b.subarray(0, Math.floor(b.length / 2))],
    ['cut inside the part headers', (b: Buffer) => b.subarray(0, 60)],
    [
      'with a different boundary',
      (b: Buffer, boundary: string) => Buffer.from(b.toString('latin1').replaceAll(boundary, 'other'), 'latin1'),
    ],
    ['empty', () => Buffer.alloc(0)],
  ])('refuses a body %s with 400 bad-multipart', async (_what, cut) => {
    const { body, contentType } = multipart([file('a.c', randomBytes(1000)), file('b.c', randomBytes(1000))]);
    const boundary = /boundary=(.*)$/.exec(contentType)?.[1] ?? '';
    const err = await rejection(parseFileParts(contentType, cut(body, boundary)));
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).toMatchObject({ statusCode: 400, code: 'bad-multipart' });
  });

  // busboy reports a part without a name (or with name="") as field `undefined`; it must reach the path check as a
  // string (which refuses '') or be refused here, never crash POST /submissions with a TypeError (500).
  it.each([
    ['no name parameter', ''],
    ['name=""', 'name=""; '],
  ])('gives a file part with %s the empty field name, or refuses it with 400', async (_what, nameParam) => {
    const boundary = 'XyZ';
    const body = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; ${nameParam}filename="x.c"\r\n` +
        `Content-Type: application/octet-stream\r\n\r\nhello\r\n--${boundary}--\r\n`,
    );
    const outcome = await parseFileParts(`multipart/form-data; boundary=${boundary}`, body).then(
      (parts: FilePart[]) => parts.map((p) => p.field),
      (err: unknown) => (err instanceof BadRequestError ? 'rejected with 400' : err),
    );
    expect(['rejected with 400', ['']]).toContainEqual(outcome);
  });
});

describe('rejectDuplicateFields', () => {
  const part = (field: string, data = ''): FilePart => ({ field, data: Buffer.from(data) });

  it('accepts distinct field names, including ones that differ only in case', () => {
    expect(() => rejectDuplicateFields([part('a.c'), part('A.c'), part('sub/a.c')])).not.toThrow();
    expect(() => rejectDuplicateFields([])).not.toThrow();
  });

  it.each([
    ['adjacent', [part('a.c'), part('a.c')]],
    ['apart, with different content', [part('a.c', '1'), part('b.c'), part('a.c', '2')]],
    ['UTF-8', [part('ž.c'), part('ž.c')]],
  ])('refuses a duplicate field (%s) with 400 duplicate-field', (_what, parts) => {
    let thrown: unknown;
    try {
      rejectDuplicateFields(parts);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BadRequestError);
    expect(thrown).toMatchObject({ statusCode: 400, code: 'duplicate-field' });
  });
});
