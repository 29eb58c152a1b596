/**
 * The error hierarchy of the service and the single place where errors become HTTP answers.
 *
 * docs/protocol.md §5: error bodies are `{"result":"ERROR","error":{"code","message"}}`. 4xx messages tell the client
 * what was wrong; anything unexpected is a generic 500 whose cause is logged, never sent.
 */
export abstract class HttpError extends Error {
  abstract readonly statusCode: number;
  /** Extra response headers (e.g. `Allow`, `WWW-Authenticate`, `Retry-After`). */
  readonly headers: Record<string, string> = {};

  constructor(
    /** A stable, machine-readable code; clients and tests may rely on it. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  toJSON(): { result: 'ERROR'; error: { code: string; message: string } } {
    return { result: 'ERROR', error: { code: this.code, message: this.message } };
  }
}

export class BadRequestError extends HttpError {
  readonly statusCode = 400;
}

export class UnauthorizedError extends HttpError {
  readonly statusCode = 401;
  constructor(message: string) {
    super('unauthorized', message);
    // docs/protocol.md §5; RFC 7617 §2: the challenge names the scheme and a realm.
    this.headers['WWW-Authenticate'] = 'Basic realm="ReCodEx fileserver"';
  }
}

export class NotFoundError extends HttpError {
  readonly statusCode = 404;
}

export class MethodNotAllowedError extends HttpError {
  readonly statusCode = 405;
  constructor(method: string, allowed: readonly string[]) {
    super('method-not-allowed', `${method} is not allowed here; use ${allowed.join(', ')}.`);
    // RFC 9110 §15.5.6: a 405 response MUST carry Allow.
    this.headers.Allow = allowed.join(', ');
  }
}

export class PayloadTooLargeError extends HttpError {
  readonly statusCode = 413;
}

export class UnsupportedMediaTypeError extends HttpError {
  readonly statusCode = 415;
}

/** A service this one depends on is throttling or briefly unavailable; the request may be retried as it is. */
export class ServiceUnavailableError extends HttpError {
  readonly statusCode = 503;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.headers['Retry-After'] = '1';
  }
}

/** Storage is throttling (S3 503 SlowDown) or briefly unavailable. */
export class StorageUnavailableError extends ServiceUnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage-unavailable', message, options);
  }
}

/**
 * The bucket the fileserver is configured with (BUCKET) does not exist at its S3 endpoint: S3's 404 NoSuchBucket. It
 * is the deployment, not the request, that is wrong, so it is a 503 (with Retry-After: creating the bucket fixes it,
 * and the same request then succeeds) rather than the 404 of a missing file (docs/protocol.md, "Error codes").
 */
export class BucketMissingError extends ServiceUnavailableError {
  constructor(
    readonly bucket: string,
    options?: { cause?: unknown },
  ) {
    super(
      'bucket-missing',
      `The storage bucket ${bucket} does not exist; the operator must create it, then retry the request.`,
      options,
    );
  }
}

/**
 * The store has no room for the write (the folder store's disk is full, `ENOSPC`/`EDQUOT`): RFC 4918 §11.5's 507,
 * "unable to store the representation". Nothing of the write is visible; a retry after space is freed succeeds.
 */
export class InsufficientStorageError extends HttpError {
  readonly statusCode = 507;
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage-full', message, options);
  }
}

export interface ErrorAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Maps any thrown value to an answer. Only `HttpError`s below 500 expose their message; everything else is logged
 * by the caller (`logCause`) and answered with a generic 500.
 */
export function errorAnswer(err: unknown, logCause: (err: unknown) => void): ErrorAnswer {
  if (err instanceof HttpError) {
    if (err.statusCode >= 500) logCause(err);
    return {
      statusCode: err.statusCode,
      headers: { 'Content-Type': 'application/json', ...err.headers },
      body: JSON.stringify(err),
    };
  }
  logCause(err);
  return {
    statusCode: 500,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      result: 'ERROR',
      error: { code: 'internal', message: 'The fileserver failed unexpectedly; the cause is in its log. Try again.' },
    }),
  };
}
