/** POST /exercises, POST /tasks, GET/HEAD /exercises/{hash}, GET/HEAD /tasks/{hash} (PROTOCOL.md §2, §4). */
import { NotFoundError } from '../lib/errors';
import { storeExerciseFiles } from '../lib/exercises';
import { httpHandler, type RouteMethod } from '../lib/handler';
import { json, param, serveObject } from '../lib/http';
import { parseSha1, taskKey } from '../lib/keys';

/** The collection: uploads. */
export const upload = httpHandler('exercises', {
  POST: async (request) => json(200, await storeExerciseFiles(request.header('content-type'), request.body)),
});

const serve: RouteMethod = async (request) => {
  const sha1 = parseSha1(param(request, 'hash'));
  return serveObject(request.method, taskKey(sha1), {
    contentType: 'application/octet-stream',
    notFound: () => new NotFoundError('no-such-file', `No exercise file has the SHA-1 ${sha1}.`),
  });
};

/** One file: downloads. */
export const download = httpHandler('exercise', { GET: serve, HEAD: serve });
