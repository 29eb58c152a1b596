import { config } from '../config';

/** Where the operator tool writes, so that tests can run its commands in-process and read what they print. */
export interface Output {
  write(text: string): unknown;
  /** A terminal gets a progress bar; anything else gets plain lines. */
  isTTY?: boolean;
}

export interface Io {
  /** The summary (or, with `--json`, the JSON report). */
  stdout: Output;
  /** Progress, warnings and errors. */
  stderr: Output;
}

/** What every command returns: its report (written as JSON) and the lines of its human summary. */
export interface CommandResult {
  report: Record<string, unknown>;
  summary: string[];
  /** 0: all is well; 1: something was refused, failed, or found wrong (docs/operations.md, "Exit status"). */
  exitCode: number;
}

/** The store every report names: the bucket, and the S3 endpoint (null for AWS itself). */
export function reportTarget(): { bucket: string; endpoint: string | null } {
  return { bucket: config().bucket, endpoint: config().s3Endpoint ?? null };
}

/** Set by the first Ctrl-C: commands stop taking new work, finish what is in flight, and report. */
export interface StopSignal {
  stopped: boolean;
}
