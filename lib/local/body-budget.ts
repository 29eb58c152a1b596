/**
 * The memory that request bodies in flight hold in the local server, bounded over all requests together. Each body
 * is read whole into memory before its handler runs (as API Gateway hands a Lambda the whole body), and stays there,
 * with the event and the handler's copies of it, until its answer is written; without a bound, many clients sending
 * large bodies at once could take the process past its heap (`npm start` runs with `--max-old-space-size=256`). A
 * request's claim is taken before its body is read, from its declared `Content-Length` (a chunked body's as its
 * chunks arrive), and given back when its answer is complete. In AWS, API Gateway and Lambda bound this themselves
 * (each invocation has its own memory), so this is the local server's only.
 */

/**
 * The default bound: 64 MiB of bodies, 14 result PUTs of the largest size (4.5 MiB) at once. A body is held more than
 * once while its handler runs (the bytes read, the event's base64, the handler's copies): 40 or 80 result PUTs of
 * 4.6 MB at once peaked at about 380 MB of RSS with this bound (14 taken, the rest answered 503), and at 633 and
 * 1,334 MB without it (docs/reliability.md, "Request bodies in memory").
 */
export const MAX_BODY_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

/** One request's share of the budget. */
export interface BodyClaim {
  /** Takes `bytes` more; `false`, taking nothing, when that would pass the bound. */
  grow(bytes: number): boolean;
  /** Gives back all it took; once only, however often it is called. */
  release(): void;
}

export class BodyBudget {
  private held = 0;

  constructor(readonly limit: number = MAX_BODY_BYTES_IN_FLIGHT) {}

  /** The bytes claimed by requests whose answers are not complete yet. */
  get inFlight(): number {
    return this.held;
  }

  claim(): BodyClaim {
    let taken = 0;
    let released = false;
    return {
      grow: (bytes) => {
        if (released || this.held + bytes > this.limit) return false;
        this.held += bytes;
        taken += bytes;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.held -= taken;
        taken = 0;
      },
    };
  }
}
