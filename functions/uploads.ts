/** POST /uploads/{target+} (docs/protocol.md §7; docs/protocol.md §7): presigned S3 URLs for large files. */
import { httpHandler } from '../lib/handler';
import { json, param } from '../lib/http';
import { handleUpload, parseUploadTarget } from '../lib/uploads';

export const handler = httpHandler('uploads', {
  POST: async (request) => json(200, await handleUpload(parseUploadTarget(param(request, 'target')), request.body)),
});
