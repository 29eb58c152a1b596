/** POST /exercises, POST /tasks, GET/HEAD /exercises/{hash}, GET/HEAD /tasks/{hash} (docs/protocol.md §2, §4). */

import { checkConfigAtStart, config } from '../lib/config';
import { NotFoundError } from '../lib/errors';
import { storeExerciseFiles } from '../lib/fileserver/exercises';
import { parseSha1, taskKey } from '../lib/fileserver/keys';
import { httpHandler, type RouteMethod } from '../lib/http/handler';
import { parseFileParts } from '../lib/http/multipart';
import { json, param } from '../lib/http/request';
import { IMMUTABLE } from '../lib/http/semantics';
import { type CachedObject, serveObject } from '../lib/http/serve-object';
import { base64Length } from '../lib/lambda-limits';
import { ByteLru } from '../lib/util/lru';

// Lambda runs this as it loads the module (the init phase): a bad setting fails the start, naming it.
checkConfigAtStart();

/** The collection: uploads. */
export const upload = httpHandler('exercises', {
  POST: async (request) =>
    json(200, await storeExerciseFiles(await parseFileParts(request.header('content-type'), request.body))),
});

let cache: ByteLru<CachedObject> | undefined;

/**
 * Hot exercise files from memory: every submission of an assignment fetches the same test inputs, and the content
 * behind a hash never changes, so the cache needs no invalidation (docs/protocol.md §4). Only files small enough to be
 * answered inline are kept; a missing hash is never cached.
 */
function exerciseCache(): ByteLru<CachedObject> | undefined {
  const { exerciseCacheBytes, inlineLimitBytes } = config();
  if (exerciseCacheBytes === 0) return undefined;
  // Entries are kept base64-encoded (lib/http/serve-object.ts), so the largest inline file takes 4/3 of its size.
  cache ??= new ByteLru<CachedObject>(exerciseCacheBytes, base64Length(inlineLimitBytes));
  return cache;
}

const serve: RouteMethod = async (request) => {
  const sha1 = parseSha1(param(request, 'hash'));
  return serveObject(request, taskKey(sha1), {
    cache: exerciseCache(),
    contentType: 'application/octet-stream',
    // The content address is the strongest validator there is, and the bytes behind it never change (docs/protocol.md §4).
    etag: `"${sha1}"`,
    cacheControl: IMMUTABLE,
    notFound: () => new NotFoundError('no-such-file', `No exercise file has the SHA-1 ${sha1}.`),
  });
};

/** One file: downloads. */
export const download = httpHandler('exercise', { GET: serve, HEAD: serve });
