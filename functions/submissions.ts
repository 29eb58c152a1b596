/** POST /submissions/{id} (docs/protocol.md §2). */

import { checkConfigAtStart } from '../lib/config';
import { storeSubmission } from '../lib/fileserver/submissions';
import { httpHandler } from '../lib/http/handler';
import { parseFileParts } from '../lib/http/multipart';
import { json, param } from '../lib/http/request';

// Lambda runs this as it loads the module (the init phase): a bad setting fails the start, naming it.
checkConfigAtStart();

export const handler = httpHandler('submissions', {
  POST: async (request) =>
    json(
      200,
      await storeSubmission(param(request, 'id'), () => parseFileParts(request.header('content-type'), request.body)),
    ),
});
