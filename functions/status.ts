/**
 * GET / (docs/protocol.md §2): service, version, and whether storage answers; 503 when it does not (health checks), with
 * `Retry-After` as every other 503 of the service (RFC 9110 §10.2.3).
 */

import { checkConfigAtStart } from '../lib/config';
import { status } from '../lib/fileserver/status';
import { httpHandler } from '../lib/http/handler';
import { json } from '../lib/http/request';

// Lambda runs this as it loads the module (the init phase): a bad setting fails the start, naming it.
checkConfigAtStart();

/** What a storage outage answers elsewhere too (lib/errors.ts `ServiceUnavailableError`). */
const RETRY_AFTER_SECONDS = '1';

export const handler = httpHandler('status', {
  GET: async () => {
    const answer = await status();
    return answer.storage.reachable ? json(200, answer) : json(503, answer, { 'Retry-After': RETRY_AFTER_SECONDS });
  },
});
