/**
 * The Basic credentials of a deployment: an SSM SecureString of one or two `username:password` lines, either of
 * which is accepted, so that a password can be rotated with no failed request (docs/deploy.md, "Rotating the
 * password"). Each function instance reads it at its first request and again at most every `CREDENTIALS_TTL_SECONDS`;
 * a read that fails keeps the value read before, and only an instance that has never read one answers 503
 * `credentials-unavailable`. The value is never logged.
 */
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { ServiceUnavailableError } from '../errors';
import { describeError, log } from '../util/log';

/** HTTP Basic credentials (RFC 7617): what a request must carry, and what the configuration holds. */
export interface Credentials {
  username: string;
  password: string;
}

export type FetchSecret = (name: string) => Promise<string>;

/** `username:password`, split at the first colon (RFC 7617 §2: the user-id cannot contain a colon). */
export function parseCredentials(value: string): Credentials {
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1) {
    throw new Error('The credentials parameter must hold "username:password" with both parts non-empty.');
  }
  return { username: value.slice(0, colon), password: value.slice(colon + 1) };
}

/**
 * The parameter's value: one `username:password` line, or two while a password is rotated (the old and the new, in
 * either order). Empty lines are skipped (a trailing newline, CRLF endings).
 */
export function parseCredentialLines(value: string): Credentials[] {
  const lines = value.split(/\r?\n/).filter((line) => line !== '');
  if (lines.length === 0 || lines.length > 2) {
    throw new Error(
      `The credentials parameter must hold one or two "username:password" lines; it holds ${lines.length}.`,
    );
  }
  return lines.map(parseCredentials);
}

/**
 * After a failed read, the next is tried no sooner than this (or the TTL, if shorter): SSM's GetParameter
 * throughput is shared by the whole account and region (40 transactions per second at the standard throughput,
 * "AWS Systems Manager endpoints and quotas"), and a failing SSM must not be asked again by every request of every
 * instance.
 */
export const RETRY_AFTER_FAILED_READ_MS = 10_000;

export interface RefreshOptions {
  /** How long a value read is used before the parameter is read again. */
  ttlMs: number;
  now?: () => number;
}

/**
 * The credentials in parameter `name`, read at the first call and again once `ttlMs` have passed since the last
 * read. Requests that arrive while a read is under way wait for that one read. A read that fails (SSM unreachable or
 * throttling, the parameter deleted or malformed) keeps the last value and is logged; the first read's failure is
 * the request's: 503 `credentials-unavailable` (or the malformed value's error), tried again by the next request.
 */
export function refreshedCredentials(
  name: string,
  fetchSecret: FetchSecret,
  { ttlMs, now = Date.now }: RefreshOptions,
): () => Promise<readonly Credentials[]> {
  let value: readonly Credentials[] | undefined;
  let text: string | undefined;
  /** When the value is next read again. */
  let due = 0;
  let reading: Promise<readonly Credentials[]> | undefined;

  const read = async (): Promise<readonly Credentials[]> => {
    try {
      const fresh = await fetchSecret(name).catch((err: unknown) => {
        throw new ServiceUnavailableError(
          'credentials-unavailable',
          'The fileserver could not read its credentials; retry the request.',
          { cause: err },
        );
      });
      // The same text keeps the same objects, whose digests lib/http/auth.ts keeps.
      if (fresh !== text) value = parseCredentialLines(fresh);
      text = fresh;
      due = now() + ttlMs;
      return value as readonly Credentials[];
    } catch (err) {
      if (value === undefined) throw err;
      due = now() + Math.min(ttlMs, RETRY_AFTER_FAILED_READ_MS);
      log('error', 'credentials: reading the parameter again failed; the value read before is kept', {
        parameter: name,
        ...describeError(err),
      });
      return value;
    }
  };

  return () => {
    if (value !== undefined && now() < due) return Promise.resolve(value);
    reading ??= read().finally(() => {
      reading = undefined;
    });
    return reading;
  };
}

let ssm: SSMClient | undefined;

/**
 * A read again is in the way of the requests that wait for it, so it is bounded like an S3 call
 * (lib/storage/s3/s3-client.ts): an in-region connect takes milliseconds, an answer well under a second. Two
 * attempts of at most 3 s each and the backoff keep a stalled SSM within a few seconds; the value read before is
 * then kept.
 */
const SSM_TIMEOUTS = { connectionTimeout: 2_000, requestTimeout: 3_000, throwOnRequestTimeout: true } as const;

/**
 * The SecureString's value, decrypted. The SDK's own settings find SSM: in AWS the region's endpoint; locally
 * `AWS_ENDPOINT_URL_SSM` (or `AWS_ENDPOINT_URL`) points it at an emulator such as LocalStack.
 */
export const fetchFromSsm: FetchSecret = async (name) => {
  ssm ??= new SSMClient({ retryMode: 'standard', maxAttempts: 2, requestHandler: SSM_TIMEOUTS });
  const answer = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
  const value = answer.Parameter?.Value;
  if (value === undefined) throw new Error(`The SSM parameter ${name} has no value.`);
  return value;
};
