import { UnauthorizedError } from '../../lib/errors';
import { checkBasicAuth } from '../../lib/http/auth';
import { thrownBy } from '../support/thrown';

const basic = (userPass: string, scheme = 'Basic'): string =>
  `${scheme} ${Buffer.from(userPass, 'utf8').toString('base64')}`;
const RE_CODEX = [{ username: 're', password: 'codex' }];

function expectUnauthorized(fn: () => unknown): void {
  const thrown = thrownBy(fn);
  expect(thrown).toBeInstanceOf(UnauthorizedError);
  expect(thrown).toMatchObject({ statusCode: 401 });
  expect((thrown as UnauthorizedError).headers['WWW-Authenticate']).toBe('Basic realm="ReCodEx fileserver"');
}

describe('checkBasicAuth', () => {
  it.each([[undefined], [''], ['Bearer x'], [basic('wrong:wrong')]])(
    'lets %j through when no credentials are configured',
    (header) => {
      expect(() => checkBasicAuth(header, undefined)).not.toThrow();
    },
  );

  it.each([
    ['Basic', basic('re:codex')],
    ['lowercase basic', basic('re:codex', 'basic')],
    ['upper-case BASIC', basic('re:codex', 'BASIC')],
    ['extra spaces', `Basic   ${Buffer.from('re:codex').toString('base64')}  `],
  ])('accepts the right credentials (%s)', (_what, header) => {
    expect(() => checkBasicAuth(header, RE_CODEX)).not.toThrow();
  });

  it.each([
    ['a missing header', undefined],
    ['an empty header', ''],
    ['a wrong password', basic('re:codeX')],
    ['a wrong user', basic('RE:codex')],
    ['an empty password', basic('re:')],
    ['a password with a trailing character', basic('re:codex ')],
    ['no colon', basic('recodex')],
    ['the user only', basic('re')],
    ['swapped user and password', basic('codex:re')],
    ['a Bearer token', 'Bearer x'],
    ['a Bearer token carrying the credentials', basic('re:codex', 'Bearer')],
    ['garbage base64', 'Basic !!!not-base64!!!'],
    ['the scheme alone', 'Basic'],
    ['the scheme and a space', 'Basic '],
    ['unencoded credentials', 'Basic re:codex'],
    ['base64 of nothing', 'Basic ===='],
    // Decoded strictly (RFC 4648 §3.3, §3.5): anything but the canonical encoding of the credentials is refused.
    ['junk after the padding', `${basic('re:codex')}AAAA`],
    ['a second padding', `${basic('re:codex')}=`],
    ['the padding left out', basic('re:codex').replace(/=+$/, '')],
    ['non-zero bits in the padding', basic('re:codex').replace('Xg=', 'Xh=')],
    ['padding in the middle', `Basic cmU6=Y29kZXg=`],
  ])('refuses %s with 401 and a Basic challenge', (_what, header) => {
    expectUnauthorized(() => checkBasicAuth(header, RE_CODEX));
  });

  it('splits at the first colon, so a password may contain colons', () => {
    const expected = [{ username: 're', password: 'co:de:x' }];
    expect(() => checkBasicAuth(basic('re:co:de:x'), expected)).not.toThrow();
    expectUnauthorized(() => checkBasicAuth(basic('re:co'), expected));
    expectUnauthorized(() => checkBasicAuth(basic('re:co:de'), expected));
  });

  it('accepts no header at all for a configured username with a colon, which Basic cannot carry (RFC 7617 §2)', () => {
    const expected = [{ username: 're:co', password: 'dex' }];
    expectUnauthorized(() => checkBasicAuth(basic('re:co:dex'), expected));
    expectUnauthorized(() => checkBasicAuth(basic('re:co:dex', 'basic'), expected));
  });

  it('compares non-ASCII UTF-8 passwords exactly', () => {
    const expected = [{ username: 'učitel', password: 'heslo-žluťoučký-🐎' }];
    expect(() => checkBasicAuth(basic('učitel:heslo-žluťoučký-🐎'), expected)).not.toThrow();
    expectUnauthorized(() => checkBasicAuth(basic('učitel:heslo-zlutoucky-🐎'), expected));
  });

  it('accepts either of two credentials (a password being rotated) and nothing else', () => {
    const both = [
      { username: 're', password: 'old-password' },
      { username: 're', password: 'new-password' },
    ];
    for (const header of [basic('re:old-password'), basic('re:new-password'), basic('re:new-password', 'basic')]) {
      expect(() => checkBasicAuth(header, both)).not.toThrow();
    }
    // Neither line's user with the other line's password, nor the two mixed.
    const crossed = [
      { username: 'api', password: 'one' },
      { username: 'worker', password: 'two' },
    ];
    expect(() => checkBasicAuth(basic('worker:two'), crossed)).not.toThrow();
    for (const header of [basic('api:two'), basic('worker:one'), basic('re:old-passwordnew-password')]) {
      expectUnauthorized(() => checkBasicAuth(header, crossed));
    }
    expectUnauthorized(() => checkBasicAuth(basic('re:old-password'), []));
  });
});
