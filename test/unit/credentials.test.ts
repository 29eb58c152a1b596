import { ServiceUnavailableError } from '../../lib/errors';
import {
  parseCredentialLines,
  parseCredentials,
  RETRY_AFTER_FAILED_READ_MS,
  refreshedCredentials,
} from '../../lib/http/credentials';
import { captureLogs } from '../handlers/support/logs';

describe('parseCredentials', () => {
  it.each([
    ['re:codex', { username: 're', password: 'codex' }],
    ['re:pa:ss:word', { username: 're', password: 'pa:ss:word' }],
    ['učitel:heslo✓', { username: 'učitel', password: 'heslo✓' }],
  ])('%s', (value, expected) => {
    expect(parseCredentials(value)).toEqual(expected);
  });

  it.each(['', 'nocolon', ':secret', 'user:'])('refuses %j', (value) => {
    expect(() => parseCredentials(value)).toThrow('must hold "username:password"');
  });

  it('never puts the value into its error message (it is logged)', () => {
    expect(() => parseCredentials('s3cr3t-without-colon')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('s3cr3t') }),
    );
  });
});

describe('parseCredentialLines', () => {
  it.each([
    ['re:codex', [{ username: 're', password: 'codex' }]],
    ['re:codex\n', [{ username: 're', password: 'codex' }]],
    [
      're:old\nre:new',
      [
        { username: 're', password: 'old' },
        { username: 're', password: 'new' },
      ],
    ],
    [
      're:old\r\nre:new\r\n',
      [
        { username: 're', password: 'old' },
        { username: 're', password: 'new' },
      ],
    ],
    ['\nre: spaced password \n', [{ username: 're', password: ' spaced password ' }]],
  ])('%j', (value, expected) => {
    expect(parseCredentialLines(value)).toEqual(expected);
  });

  it.each(['', '\n\n', 'a:1\nb:2\nc:3'])('refuses %j: one or two lines', (value) => {
    expect(() => parseCredentialLines(value)).toThrow('one or two "username:password" lines');
  });

  it('refuses a value with one malformed line, without naming its content', () => {
    expect(() => parseCredentialLines('re:ok\nsecret-without-colon')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('secret') }),
    );
  });
});

/** A clock the tests move by hand. */
function clock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000_000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

describe('refreshedCredentials', () => {
  it('reads the parameter once per TTL, and serves every request in between from memory', async () => {
    const time = clock();
    const fetchSecret = jest.fn(async (name: string) => (name === '/p' ? 're:codex' : 'x:y'));
    const credentials = refreshedCredentials('/p', fetchSecret, { ttlMs: 300_000, now: time.now });
    const all = await Promise.all([credentials(), credentials(), credentials()]);
    expect(all[0]).toEqual([{ username: 're', password: 'codex' }]);
    expect(all[1]).toBe(all[0]);
    time.advance(299_999);
    await credentials();
    expect(fetchSecret).toHaveBeenCalledTimes(1);
    expect(fetchSecret).toHaveBeenCalledWith('/p');
    time.advance(1);
    await credentials();
    expect(fetchSecret).toHaveBeenCalledTimes(2);
  });

  it('takes a changed value after the TTL: both lines while rotating, then only the new one', async () => {
    const time = clock();
    let stored = 're:old';
    const credentials = refreshedCredentials('/p', async () => stored, { ttlMs: 1000, now: time.now });
    expect(await credentials()).toEqual([{ username: 're', password: 'old' }]);
    stored = 're:old\nre:new';
    expect(await credentials()).toEqual([{ username: 're', password: 'old' }]);
    time.advance(1000);
    expect(await credentials()).toEqual([
      { username: 're', password: 'old' },
      { username: 're', password: 'new' },
    ]);
    stored = 're:new';
    time.advance(1000);
    expect(await credentials()).toEqual([{ username: 're', password: 'new' }]);
  });

  it('keeps the same objects while the value does not change (their digests are kept per object)', async () => {
    const time = clock();
    const credentials = refreshedCredentials('/p', async () => 're:codex', { ttlMs: 1000, now: time.now });
    const first = await credentials();
    time.advance(5000);
    expect(await credentials()).toBe(first);
  });

  it('makes concurrent requests wait for one read', async () => {
    let release: (value: string) => void = () => undefined;
    const fetchSecret = jest.fn(() => new Promise<string>((resolve) => (release = resolve)));
    const credentials = refreshedCredentials('/p', fetchSecret, { ttlMs: 1000 });
    const waiting = [credentials(), credentials(), credentials()];
    release('re:codex');
    expect(new Set(await Promise.all(waiting)).size).toBe(1);
    expect(fetchSecret).toHaveBeenCalledTimes(1);
  });

  it('answers a failed first read with 503 credentials-unavailable, and tries again on the next request', async () => {
    const fetchSecret = jest
      .fn<Promise<string>, [string]>()
      .mockRejectedValueOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .mockResolvedValueOnce('re:codex');
    const credentials = refreshedCredentials('/p', fetchSecret, { ttlMs: 1000 });
    const failure = await credentials().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ServiceUnavailableError);
    expect(failure).toMatchObject({ statusCode: 503, code: 'credentials-unavailable' });
    expect((failure as ServiceUnavailableError).headers['Retry-After']).toBe('1');
    await expect(credentials()).resolves.toEqual([{ username: 're', password: 'codex' }]);
    expect(fetchSecret).toHaveBeenCalledTimes(2);
  });

  it('fails (500, logged) on a malformed first value and does not keep the failure', async () => {
    const fetchSecret = jest
      .fn<Promise<string>, [string]>()
      .mockResolvedValueOnce('nocolon')
      .mockResolvedValueOnce('a:b');
    const credentials = refreshedCredentials('/p', fetchSecret, { ttlMs: 1000 });
    await expect(credentials()).rejects.toThrow('username:password');
    await expect(credentials()).resolves.toEqual([{ username: 'a', password: 'b' }]);
  });

  it.each([
    ['SSM fails', () => Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))],
    ['the value is malformed', () => Promise.resolve('three\nlines\nnow')],
  ])('keeps the value read before when a later read fails (%s), logs it, and retries later', async (_what, fail) => {
    const time = clock();
    const fetchSecret = jest.fn<Promise<string>, [string]>().mockResolvedValueOnce('re:codex');
    const credentials = refreshedCredentials('/p', fetchSecret, { ttlMs: 60_000, now: time.now });
    const first = await credentials();
    fetchSecret.mockImplementation(fail);
    time.advance(60_000);
    const { result, lines } = await captureLogs(() => credentials());
    expect(result).toEqual({ status: 'fulfilled', value: first });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        message: 'credentials: reading the parameter again failed; the value read before is kept',
        parameter: '/p',
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain('codex');
    // Not asked again by every request meanwhile, but again after the retry interval.
    await credentials();
    expect(fetchSecret).toHaveBeenCalledTimes(2);
    time.advance(RETRY_AFTER_FAILED_READ_MS);
    fetchSecret.mockResolvedValue('re:new');
    await expect(credentials()).resolves.toEqual([{ username: 're', password: 'new' }]);
    expect(fetchSecret).toHaveBeenCalledTimes(3);
  });
});
