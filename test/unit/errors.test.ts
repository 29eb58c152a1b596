import {
  BadRequestError,
  errorAnswer,
  type HttpError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  StorageUnavailableError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from '../../lib/errors';

describe('errorAnswer', () => {
  it.each<[string, HttpError, number, Record<string, string>]>([
    ['400', new BadRequestError('invalid-id', 'The id is bad.'), 400, {}],
    ['401', new UnauthorizedError('Who are you?'), 401, { 'WWW-Authenticate': 'Basic realm="ReCodEx fileserver"' }],
    ['404', new NotFoundError('no-such-file', 'Not here.'), 404, {}],
    ['405', new MethodNotAllowedError('DELETE', ['GET', 'HEAD']), 405, { Allow: 'GET, HEAD' }],
    ['413', new PayloadTooLargeError('too-large', 'Too big.'), 413, {}],
    ['415', new UnsupportedMediaTypeError('not-multipart', 'Send multipart.'), 415, {}],
  ])('answers a %s with its status, JSON error body and headers, without logging', (_what, err, status, extra) => {
    const logCause = jest.fn();
    const answer = errorAnswer(err, logCause);
    expect(answer.statusCode).toBe(status);
    expect(answer.headers).toEqual({ 'Content-Type': 'application/json', ...extra });
    expect(JSON.parse(answer.body)).toEqual({ result: 'ERROR', error: { code: err.code, message: err.message } });
    expect(logCause).not.toHaveBeenCalled();
  });

  it('names the method and the allowed ones in a 405', () => {
    const answer = errorAnswer(new MethodNotAllowedError('DELETE', ['GET', 'HEAD', 'PUT']), jest.fn());
    expect(answer.headers.Allow).toBe('GET, HEAD, PUT');
    expect(JSON.parse(answer.body).error).toMatchObject({ code: 'method-not-allowed' });
    expect(JSON.parse(answer.body).error.message).toContain('DELETE');
  });

  it('answers 503 with Retry-After and logs it', () => {
    const logCause = jest.fn();
    const err = new StorageUnavailableError('Storage is busy; retry.', { cause: new Error('SlowDown') });
    const answer = errorAnswer(err, logCause);
    expect(answer.statusCode).toBe(503);
    expect(answer.headers).toEqual({ 'Content-Type': 'application/json', 'Retry-After': '1' });
    expect(JSON.parse(answer.body)).toEqual({
      result: 'ERROR',
      error: { code: 'storage-unavailable', message: 'Storage is busy; retry.' },
    });
    expect(logCause).toHaveBeenCalledWith(err);
  });

  it.each<[string, unknown]>([
    ['an Error', new Error('secret internal detail: bucket my-private-bucket')],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'secret internal detail')")],
    ['a thrown string', 'secret internal detail'],
    ['undefined', undefined],
  ])('answers %s with a generic 500 that does not leak it, and logs the cause', (_what, thrown) => {
    const logCause = jest.fn();
    const answer = errorAnswer(thrown, logCause);
    expect(answer.statusCode).toBe(500);
    expect(answer.headers).toEqual({ 'Content-Type': 'application/json' });
    const body = JSON.parse(answer.body);
    expect(body.result).toBe('ERROR');
    expect(body.error.code).toBe('internal');
    expect(typeof body.error.message).toBe('string');
    expect(answer.body).not.toContain('secret');
    expect(answer.body).not.toContain('bucket');
    expect(logCause).toHaveBeenCalledTimes(1);
    expect(logCause).toHaveBeenCalledWith(thrown);
  });

  it('does not share header objects between errors', () => {
    const a = new UnauthorizedError('a');
    const b = new BadRequestError('x', 'y');
    expect(errorAnswer(b, jest.fn()).headers).not.toHaveProperty('WWW-Authenticate');
    expect(errorAnswer(a, jest.fn()).headers).toHaveProperty('WWW-Authenticate');
  });
});
