/** GET/HEAD /submission_archives/{name} where name is `<id>.zip` (docs/protocol.md §2–3). */

import { checkConfigAtStart, config } from '../lib/config';
import { NotFoundError } from '../lib/errors';
import { bringArchiveUpToDate } from '../lib/fileserver/archive-refresh';
import { archiveKey, parseArchiveName } from '../lib/fileserver/keys';
import { httpHandler, type RouteMethod } from '../lib/http/handler';
import { param } from '../lib/http/request';
import { REVALIDATE } from '../lib/http/semantics';
import { discardRead, readForServe, serveObject } from '../lib/http/serve-object';

// Lambda runs this as it loads the module (the init phase): a bad setting fails the start, naming it.
checkConfigAtStart();

const serve: RouteMethod = async (request) => {
  const id = parseArchiveName(param(request, 'name'));
  // Usually the archiver has built it already; a worker may ask within milliseconds of the upload, though. The
  // archive is looked at with the very request that serves it (a HEAD, or a GET of the first bytes), whose metadata
  // says whether it is current: two S3 requests for a current archive, the manifest and the archive, sent at once.
  const { archiveLayout, onDemandBuildMaxBytes, onDemandBuildMaxFiles } = config();
  const { outcome, archive } = await bringArchiveUpToDate(id, archiveLayout, {
    maxBuildBytes: onDemandBuildMaxBytes,
    maxBuildFiles: onDemandBuildMaxFiles,
    look: (key) => readForServe(request.method, key),
    release: discardRead,
  });
  if (outcome === 'no-manifest') throw noSuchSubmission(id);
  return serveObject(
    request,
    archiveKey(id),
    {
      contentType: 'application/zip',
      filename: `${id}.zip`,
      cacheControl: REVALIDATE, // rebuilt when the submission changes
      notFound: () => noSuchSubmission(id),
    },
    archive,
  );
};

function noSuchSubmission(id: string): NotFoundError {
  return new NotFoundError('no-such-submission', `No submission with the id ${id} has been uploaded.`);
}

export const handler = httpHandler('submission_archives', { GET: serve, HEAD: serve });
