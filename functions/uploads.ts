/** POST /uploads/{target+} (docs/protocol.md §7; docs/protocol.md §7): presigned S3 URLs for large files. */

import { checkConfigAtStart } from '../lib/config';
import { handleUpload, parseUploadTarget } from '../lib/fileserver/uploads';
import { httpHandler } from '../lib/http/handler';
import { json, param } from '../lib/http/request';

// Lambda runs this as it loads the module (the init phase): a bad setting fails the start, naming it.
checkConfigAtStart();

export const handler = httpHandler('uploads', {
  POST: async (request) => json(200, await handleUpload(parseUploadTarget(param(request, 'target')), request.body)),
});
