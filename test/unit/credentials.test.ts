import { ServiceUnavailableError } from '../../lib/errors';
import { cachedCredentials, parseCredentials } from '../../lib/http/credentials';

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

describe('cachedCredentials', () => {
  it('fetches the parameter once and serves every later request from memory', async () => {
    const fetchSecret = jest.fn(async (name: string) => (name === '/p' ? 're:codex' : 'x:y'));
    const credentials = cachedCredentials('/p', fetchSecret);
    const all = await Promise.all([credentials(), credentials(), credentials()]);
    expect(all).toEqual([{ username: 're', password: 'codex' }, ...all.slice(1)]);
    await credentials();
    expect(fetchSecret).toHaveBeenCalledTimes(1);
    expect(fetchSecret).toHaveBeenCalledWith('/p');
  });

  it('answers a failed fetch with 503 credentials-unavailable, and tries again on the next request', async () => {
    const fetchSecret = jest
      .fn<Promise<string>, [string]>()
      .mockRejectedValueOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .mockResolvedValueOnce('re:codex');
    const credentials = cachedCredentials('/p', fetchSecret);
    const failure = await credentials().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ServiceUnavailableError);
    expect(failure).toMatchObject({ statusCode: 503, code: 'credentials-unavailable' });
    expect((failure as ServiceUnavailableError).headers['Retry-After']).toBe('1');
    await expect(credentials()).resolves.toEqual({ username: 're', password: 'codex' });
    expect(fetchSecret).toHaveBeenCalledTimes(2);
  });

  it('fails (500, logged) on a malformed value and does not keep the failure', async () => {
    const fetchSecret = jest
      .fn<Promise<string>, [string]>()
      .mockResolvedValueOnce('nocolon')
      .mockResolvedValueOnce('a:b');
    const credentials = cachedCredentials('/p', fetchSecret);
    await expect(credentials()).rejects.toThrow('username:password');
    await expect(credentials()).resolves.toEqual({ username: 'a', password: 'b' });
  });
});
