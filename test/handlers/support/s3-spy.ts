/**
 * Watching and breaking the handlers' own S3 client (`lib/storage/s3/s3-client.ts`) with middleware at the `initialize` step, i.e.
 * when a command is sent, before serialisation and retries. Call only inside tests (the client needs the
 * environment `useTestStore` sets on an S3 backend), and remove what you add, also when a test fails (`try`/`finally`).
 */
import type { ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
// Type only: the middleware types of the SDK's own dependency (no runtime import).
import type { InitializeMiddleware } from '@smithy/types';
import { s3 } from '../../../lib/storage/s3/s3-client';

type Middleware = InitializeMiddleware<ServiceInputTypes, ServiceOutputTypes>;

export interface SentCommand {
  /** The command's class name, e.g. `PutObjectCommand`. */
  name: string;
  input: Record<string, unknown>;
}

export interface S3Spy {
  /** Every command sent since the spy was added, in order. */
  readonly sent: SentCommand[];
  /** Their names. */
  names(): string[];
  /** Forgets what was recorded so far. */
  clear(): void;
  remove(): void;
}

/** Records every command the handlers' S3 client sends. */
export function spyOnS3(name = 'spy'): S3Spy {
  const sent: SentCommand[] = [];
  const middleware: Middleware = (next, context) => async (args) => {
    sent.push({ name: String(context.commandName), input: { ...(args.input as Record<string, unknown>) } });
    return next(args);
  };
  s3().middlewareStack.add(middleware, { step: 'initialize', name, priority: 'high' });
  return {
    sent,
    names: () => sent.map((command) => command.name),
    clear: () => {
      sent.length = 0;
    },
    remove: () => {
      s3().middlewareStack.remove(name);
    },
  };
}

/** An error shaped as the SDK throws a 500 from S3. */
export function s3InternalError(message = 'We encountered an internal error. Please try again.'): Error {
  return Object.assign(new Error(message), {
    name: 'InternalError',
    Code: 'InternalError',
    $fault: 'server',
    $metadata: { httpStatusCode: 500, attempts: 1, totalRetryDelay: 0 },
  });
}

export interface S3Fault {
  /** The commands that were made to fail. */
  readonly failed: SentCommand[];
  remove(): void;
}

/**
 * Makes the handlers' S3 client fail every command for which `shouldFail` answers true (it sees the commands in
 * order, so it can count), with the error `makeError` returns. The command never reaches the server.
 */
export function injectS3Fault(
  shouldFail: (command: SentCommand) => boolean,
  makeError: () => Error = () => s3InternalError(),
  name = 'fault',
): S3Fault {
  const failed: SentCommand[] = [];
  const middleware: Middleware = (next, context) => async (args) => {
    const command = { name: String(context.commandName), input: { ...(args.input as Record<string, unknown>) } };
    if (shouldFail(command)) {
      failed.push(command);
      throw makeError();
    }
    return next(args);
  };
  s3().middlewareStack.add(middleware, { step: 'initialize', name, priority: 'low' });
  return {
    failed,
    remove: () => {
      s3().middlewareStack.remove(name);
    },
  };
}

/**
 * Runs `before` (awaited) ahead of every command the handlers' S3 client sends, e.g. to change storage in the
 * middle of a build. Commands sent from inside `before` pass through it too; guard against recursion there.
 */
export function beforeS3Command(before: (command: SentCommand) => Promise<void>, name = 'before'): { remove(): void } {
  const middleware: Middleware = (next, context) => async (args) => {
    await before({ name: String(context.commandName), input: { ...(args.input as Record<string, unknown>) } });
    return next(args);
  };
  s3().middlewareStack.add(middleware, { step: 'initialize', name, priority: 'normal' });
  return {
    remove: () => {
      s3().middlewareStack.remove(name);
    },
  };
}
