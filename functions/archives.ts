/** GET/HEAD /submission_archives/{name} where name is `<id>.zip` (PROTOCOL.md §2–3). */
import { ensureArchive } from '../lib/archive';
import { config } from '../lib/config';
import { NotFoundError } from '../lib/errors';
import { type RouteMethod, httpHandler as wrap } from '../lib/handler';
import { param, serveObject } from '../lib/http';
import { archiveKey, parseArchiveName } from '../lib/keys';

const serve: RouteMethod = async (request) => {
  const id = parseArchiveName(param(request, 'name'));
  await ensureArchive(id, config().archiveLayout);
  return serveObject(request.method, archiveKey(id), {
    contentType: 'application/zip',
    filename: `${id}.zip`,
    notFound: () => new NotFoundError('no-such-submission', `No submission with the id ${id} has been uploaded.`),
  });
};

export const handler = wrap('submission_archives', { GET: serve, HEAD: serve });
