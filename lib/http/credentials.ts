/**
 * The Basic credentials of a deployment: an SSM SecureString `username:password`, fetched once per function
 * instance (at the first request after a cold start) and cached. A failed fetch is not cached, so the next request
 * tries again. The value is never logged.
 */
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { ServiceUnavailableError } from '../errors';

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

export function cachedCredentials(name: string, fetchSecret: FetchSecret): () => Promise<Credentials> {
  let cached: Promise<Credentials> | undefined;
  return () => {
    cached ??= fetchSecret(name).then(parseCredentials, (err: unknown) => {
      throw new ServiceUnavailableError(
        'credentials-unavailable',
        'The fileserver could not read its credentials; retry the request.',
        { cause: err },
      );
    });
    cached.catch(() => {
      cached = undefined;
    });
    return cached;
  };
}

let ssm: SSMClient | undefined;

export const fetchFromSsm: FetchSecret = async (name) => {
  ssm ??= new SSMClient({});
  const answer = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
  const value = answer.Parameter?.Value;
  if (value === undefined) throw new Error(`The SSM parameter ${name} has no value.`);
  return value;
};
