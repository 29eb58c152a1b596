/** PUT/GET/HEAD /attachments/{id} (docs/protocol.md §2): kept for completeness; no known client. */
import { checkConfigAtStart } from '../lib/config';
import { NotFoundError } from '../lib/errors';
import { attachmentKey, validateId } from '../lib/fileserver/keys';
import { httpHandler, type RouteMethod } from '../lib/http/handler';
import { json, param } from '../lib/http/request';
import { REVALIDATE } from '../lib/http/semantics';
import { serveObject } from '../lib/http/serve-object';
import { putObject } from '../lib/storage/store';

// Lambda runs this as it loads the module (the init phase): a bad setting fails the start, naming it.
checkConfigAtStart();

const serve: RouteMethod = async (request) => {
  const id = validateId(param(request, 'id'), 'attachment id');
  return serveObject(request, attachmentKey(id), {
    contentType: 'application/octet-stream',
    filename: id,
    cacheControl: REVALIDATE, // an attachment can be uploaded again
    notFound: () => new NotFoundError('no-such-attachment', `No attachment with the id ${id} has been uploaded.`),
  });
};

export const handler = httpHandler('attachments', {
  PUT: async (request) => {
    await putObject(attachmentKey(validateId(param(request, 'id'), 'attachment id')), request.body);
    return json(200, { result: 'OK' });
  },
  GET: serve,
  HEAD: serve,
});
