/**
 * HTTP Basic authentication (RFC 7617), as the ReCodEx API and workers send it: preemptively, on every request
 * (docs/protocol.md §5).
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { config } from '../config';
import { UnauthorizedError } from '../errors';
import { type Credentials, fetchFromSsm, refreshedCredentials } from './credentials';
import type { HttpRequest } from './request';

let fromParameter: (() => Promise<readonly Credentials[]>) | undefined;
let fromEnvironment: readonly Credentials[] | undefined;

/**
 * The credentials this instance accepts: from the SSM parameter in AWS (one or two, lib/http/credentials.ts), from
 * the environment locally, or `undefined` when auth is off (local mode without credentials).
 */
export async function expectedCredentials(): Promise<readonly Credentials[] | undefined> {
  const { credentialsParameter, credentials, credentialsTtlSeconds } = config();
  if (!credentialsParameter) {
    if (!credentials) return undefined;
    fromEnvironment ??= [credentials];
    return fromEnvironment;
  }
  fromParameter ??= refreshedCredentials(credentialsParameter, fetchFromSsm, { ttlMs: credentialsTtlSeconds * 1000 });
  return fromParameter();
}

/**
 * The credential check of every request, from its headers alone: throws 401 unless it carries exactly the expected
 * credentials (503 if they cannot be read). The handler runs it (lib/http/handler.ts), and the local server runs it
 * before it reads a body (lib/local/server.ts), so both decide the same.
 */
export async function authenticate(header: HttpRequest['header']): Promise<void> {
  checkBasicAuth(header('authorization'), await expectedCredentials());
}

/** Throws 401 unless `authorization` carries exactly one of the expected credentials. */
export function checkBasicAuth(authorization: string | undefined, expected: readonly Credentials[] | undefined): void {
  if (!expected) return;
  if (!authorization) throw new UnauthorizedError('This fileserver requires HTTP Basic credentials.');
  const all = expected.map(expectedDigests);
  // What the ReCodEx API and workers send, byte for byte: one digest of the whole header decides it.
  const given = digest(authorization);
  if (all.some(({ header }) => header !== undefined && timingSafeEqual(given, header))) return;
  const match = /^Basic[ ]+([A-Za-z0-9+/=]+)[ ]*$/i.exec(authorization);
  if (!match?.[1]) throw new UnauthorizedError('Only HTTP Basic credentials are accepted here.');
  const decoded = decodeStrictly(match[1]);
  const colon = decoded.indexOf(':');
  const username = digest(colon < 0 ? decoded : decoded.slice(0, colon));
  const password = digest(colon < 0 ? '' : decoded.slice(colon + 1));
  let valid = false;
  for (const expectedDigest of all) {
    // Both comparisons always run, so the time taken does not tell which part was wrong.
    const userOk = timingSafeEqual(username, expectedDigest.username);
    const passwordOk = timingSafeEqual(password, expectedDigest.password);
    valid ||= userOk && passwordOk;
  }
  if (colon < 0 || !valid) throw new UnauthorizedError('The credentials are not valid.');
}

interface ExpectedDigests {
  username: Buffer;
  password: Buffer;
  /**
   * The digest of the header `Basic <base64 of username:password>`, which the parse below accepts too, in the one
   * spelling clients send; none when the username holds a colon, which no header can carry (RFC 7617 §2).
   */
  header: Buffer | undefined;
}

const digestsOf = new WeakMap<Credentials, ExpectedDigests>();

/**
 * The expected side's digests, once per credentials object (the configuration and the SSM cache hand out the same
 * object every time) rather than on every request: hashing was a visible part of serving a cached file.
 */
function expectedDigests(expected: Credentials): ExpectedDigests {
  let digests = digestsOf.get(expected);
  if (!digests) {
    const { username, password } = expected;
    const token = Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
    digests = {
      username: digest(username),
      password: digest(password),
      header: username.includes(':') ? undefined : digest(`Basic ${token}`),
    };
    digestsOf.set(expected, digests);
  }
  return digests;
}

/**
 * One-shot `crypto.hash` (Node ≥ 20.12): half the cost of a `createHash` object, and it runs on every request.
 * Secrets are compared as their 32-byte digests, in constant time, so the comparison does not leak the length
 * either.
 */
function digest(value: string): Buffer {
  return hash('sha256', value, 'buffer');
}

/**
 * RFC 7617 §2: the token is the base64 (RFC 4648 §4) of `user-id:password`. Node's decoder stops at the padding and
 * skips what it cannot read, so `<token>AAAA` would decode as `<token>`; only the canonical encoding is taken here
 * (padded, zero padding bits, nothing after the padding: RFC 4648 §3.3, §3.5), and anything else is
 * credentials that are not valid.
 */
function decodeStrictly(token: string): string {
  const bytes = Buffer.from(token, 'base64');
  if (bytes.toString('base64') !== token) throw new UnauthorizedError('The credentials are not valid base64.');
  return bytes.toString('utf8');
}
