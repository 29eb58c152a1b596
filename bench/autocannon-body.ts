/**
 * autocannon 9 decodes every response body to a UTF-8 string and appends it to the request's record
 * (`PipelinedRequestsQueue#addBody`), whether anything reads it or not. For 1 MiB binary downloads this costs the
 * load generator more CPU than the server spends answering, and on a 2-core machine the figures would then measure
 * autocannon. Only `onResponse` (and `expectBody`/`verifyBody`, unused here) reads the body, so it is kept only
 * for requests that have an `onResponse`: the writes, whose answers are small JSON.
 */
interface PendingRequest {
  req?: { onResponse?: unknown };
  body: string;
}

interface QueuePrototype {
  peek(): PendingRequest | undefined;
  addBody(data: Buffer): void;
}

// autocannon has no option for this and no types for its internals (checked against 9.0.0, the pinned version).
const queue = require('autocannon/lib/pipelinedRequestsQueue') as { prototype: QueuePrototype };

let installed = false;

export function keepResponseBodiesOnlyWhenRead(): void {
  if (installed) return;
  installed = true;
  const addBody = queue.prototype.addBody;
  queue.prototype.addBody = function (this: QueuePrototype, data: Buffer): void {
    if (this.peek()?.req?.onResponse) addBody.call(this, data);
  };
}
