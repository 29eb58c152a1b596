/**
 * The fileserver calls of the suites that count what an operation sends to S3 (s3-request-counts, s3-request-depth):
 * each call checks its status, so a count is never taken of an operation that failed.
 */
import { type RawAnswer, send } from './http';
import { file, multipart } from './multipart';

export interface CheckedCalls {
  /** `method path` with an optional body, which must answer `status`. */
  expectStatus(method: string, path: string, status: number, body?: Buffer, type?: string): Promise<RawAnswer>;
  /** POST /exercises of `contents` as `f0.bin`, `f1.bin`, …: 200. */
  postExercises(contents: readonly Buffer[]): Promise<RawAnswer>;
  /** POST /submissions/<id> of `contents` as `src/f0.c`, `src/f1.c`, …: 200. */
  postSubmission(id: string, contents: readonly Buffer[]): Promise<RawAnswer>;
}

/** The calls against the server at `url()`, read at each call (the stack starts in a `beforeAll`). */
export function checkedCalls(url: () => string): CheckedCalls {
  const expectStatus: CheckedCalls['expectStatus'] = async (method, path, status, body, type) => {
    const answer = await send(url(), method, path, {
      ...(body ? { body } : {}),
      ...(type ? { headers: { 'Content-Type': type } } : {}),
    });
    expect({ method, path, status: answer.status }).toEqual({ method, path, status });
    return answer;
  };
  return {
    expectStatus,
    postExercises(contents) {
      const { body, contentType } = multipart(contents.map((data, i) => file(`f${i}.bin`, data)));
      return expectStatus('POST', '/exercises', 200, body, contentType);
    },
    postSubmission(id, contents) {
      const { body, contentType } = multipart(contents.map((data, i) => file(`src/f${i}.c`, data)));
      return expectStatus('POST', `/submissions/${id}`, 200, body, contentType);
    },
  };
}
