/**
 * The requests of one connection, processed strictly one after another. Node emits `request` for each pipelined
 * request as soon as it has parsed it, and only queues the answers, so a `PUT /results/p.zip` followed at once by
 * `GET /results/p.zip` on one connection ran both handlers together, and the GET found nothing. RFC 9112 §9.3.2 lets
 * a server process pipelined requests in parallel only when they are all safe; here the next request of a connection
 * starts only once the answer to the one before it is complete, so each request's effects come before the next.
 *
 * The answers Node leaves to the server outside of any request (a request line it cannot parse, a request that ran
 * out of time) wait their turn the same way: they come after the answers to every request before them, never
 * instead of one (`fail`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Turn {
  req: IncomingMessage;
  res: ServerResponse;
  serve: () => void;
  started: boolean;
}

interface Line {
  /** The requests of the connection not yet answered, in the order they came; the first is being served. */
  turns: Turn[];
  /** Set once the connection has failed: a request parsed after that is not served. */
  stopped: boolean;
  /** Runs once no request of the connection is left unanswered (the failure's own answer). */
  whenIdle: (() => void) | undefined;
}

export class ConnectionOrder {
  private readonly lines = new WeakMap<Socket, Line>();

  /** Runs `serve` for `req` once every earlier request of its connection has been answered. */
  enqueue(req: IncomingMessage, res: ServerResponse, serve: () => void): void {
    const line = this.lineOf(req.socket);
    // A request parsed after its connection failed is not served: the failure's answer closes the connection.
    if (line.stopped) return;
    const turn: Turn = { req, res, serve, started: false };
    line.turns.push(turn);
    // 'close' comes once the answer is written (or the connection is gone), after Node has handed the connection to
    // the next answer in its own queue.
    res.once('close', () => this.finished(line, turn));
    if (line.turns.length === 1) this.start(line, turn);
  }

  /**
   * The connection failed (Node's `clientError`). `answer` (which writes the error and closes the connection) runs
   * once every request before the failure is answered; those are served as usual. A failure of the request still
   * being received is that request's answer, unless it has begun another answer already, which is then cut (`cut`).
   */
  fail(socket: Socket, answer: () => void, cut: () => void): void {
    const line = this.lineOf(socket);
    if (line.stopped) return; // the failure is being answered already
    line.stopped = true;
    const last = line.turns[line.turns.length - 1];
    if (last && !last.req.complete) {
      // The failure is this request's own, as it is still arriving.
      if (last.started) {
        if (last.res.headersSent) cut();
        else answer();
        return;
      }
      line.turns.pop();
    }
    if (line.turns.length === 0) answer();
    else line.whenIdle = answer;
  }

  private lineOf(socket: Socket): Line {
    let line = this.lines.get(socket);
    if (!line) {
      line = { turns: [], stopped: false, whenIdle: undefined };
      this.lines.set(socket, line);
    }
    return line;
  }

  private finished(line: Line, turn: Turn): void {
    const at = line.turns.indexOf(turn);
    if (at < 0) return;
    line.turns.splice(at, 1);
    const next = line.turns[0];
    if (next && !next.started) this.start(line, next);
    else if (!next && line.whenIdle) {
      const answer = line.whenIdle;
      line.whenIdle = undefined;
      answer();
    }
  }

  private start(line: Line, turn: Turn): void {
    turn.started = true;
    // A connection that is closing (an answer with `Connection: close`, a client gone) serves no more requests.
    const socket = turn.req.socket;
    if (socket.destroyed || !socket.writable) this.finished(line, turn);
    else turn.serve();
  }
}
