/** PUT/GET/HEAD /results/{name} (docs/protocol.md §2): result archives that workers upload. */
import { checkConfigAtStart } from '../lib/config';
import { NotFoundError } from '../lib/errors';
import { resultKey, validateId } from '../lib/fileserver/keys';
import { resultContentType } from '../lib/fileserver/results';
import { httpHandler, type RouteMethod } from '../lib/http/handler';
import { json, param } from '../lib/http/request';
import { REVALIDATE } from '../lib/http/semantics';
import { serveObject } from '../lib/http/serve-object';
import { putObject } from '../lib/storage/store';

// Lambda runs this as it loads the module (the init phase): a bad setting fails the start, naming it.
checkConfigAtStart();

const serve: RouteMethod = async (request) => {
  const name = validateId(param(request, 'name'), 'result name');
  return serveObject(request, resultKey(name), {
    contentType: resultContentType(name),
    filename: name,
    cacheControl: REVALIDATE, // a result can be uploaded again
    // The API reads any 4xx as "not ready yet" (docs/protocol.md §2).
    notFound: () => new NotFoundError('no-such-result', `No result named ${name} has been uploaded yet.`),
  });
};

export const handler = httpHandler('results', {
  // Stored byte for byte whatever the Content-Type (docs/protocol.md §6); a PutObject replaces the object atomically.
  PUT: async (request) => {
    const name = validateId(param(request, 'name'), 'result name');
    await putObject(resultKey(name), request.body, { contentType: resultContentType(name) });
    return json(200, { result: 'OK' });
  },
  GET: serve,
  HEAD: serve,
});
