/** PUT/GET/HEAD /attachments/{id} (docs/protocol.md §2): kept for completeness; no known client. */
import { NotFoundError } from '../lib/errors';
import { httpHandler, type RouteMethod } from '../lib/handler';
import { json, param, serveObject } from '../lib/http';
import { REVALIDATE } from '../lib/http-semantics';
import { attachmentKey, validateId } from '../lib/keys';
import { putObject } from '../lib/storage';

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
