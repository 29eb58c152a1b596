/** POST /submissions/{id} (docs/protocol.md §2). */
import { httpHandler } from '../lib/handler';
import { json, param } from '../lib/http';
import { storeSubmission } from '../lib/submissions';

export const handler = httpHandler('submissions', {
  POST: async (request) =>
    json(200, await storeSubmission(param(request, 'id'), request.header('content-type'), request.body)),
});
