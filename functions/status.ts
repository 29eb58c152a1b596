/** GET / (PROTOCOL.md §2): service, version, and whether storage answers; 503 when it does not (health checks). */
import { httpHandler } from '../lib/handler';
import { json } from '../lib/http';
import { status } from '../lib/status';

export const handler = httpHandler('status', {
  GET: async () => {
    const answer = await status();
    return json(answer.storage.reachable ? 200 : 503, answer);
  },
});
