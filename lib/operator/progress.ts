/**
 * Progress of a long run: a bar on a terminal (cli-progress: files, bytes, rate, time left), plain lines every few
 * seconds otherwise (a log file, CI, `nohup`), where a redrawn bar would only fill the log with control characters.
 */
import { SingleBar } from 'cli-progress';
import type { Output } from './io';

/** How often a plain progress line is written when the output is not a terminal. */
const PLAIN_INTERVAL_MS = 5_000;

export interface Progress {
  /** `files` more files, holding `bytes` bytes, are done (copied, skipped, refused or failed alike). */
  add(files: number, bytes: number): void;
  stop(): void;
}

export function startProgress(
  label: string,
  total: { files: number; bytes: number },
  out: Output,
  options: { quiet?: boolean } = {},
): Progress {
  if (options.quiet) return { add: () => undefined, stop: () => undefined };
  const started = Date.now();
  let files = 0;
  let bytes = 0;
  const rates = (): { filesPerSecond: number; bytesPerSecond: number; secondsLeft: number | undefined } => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const filesPerSecond = files / seconds;
    // Time left from bytes when the folder holds any, else from files: large files dominate a migration's time.
    const fraction = total.bytes > 0 ? bytes / total.bytes : total.files > 0 ? files / total.files : 1;
    const secondsLeft = fraction > 0 ? (seconds * (1 - fraction)) / fraction : undefined;
    return { filesPerSecond, bytesPerSecond: bytes / seconds, secondsLeft };
  };

  // A total of nothing means "not known beforehand" (verify walks a listing): counts and rates, no bar.
  const known = total.files > 0 || total.bytes > 0;
  if (out.isTTY) {
    const bar = new SingleBar({
      stream: out as unknown as NodeJS.WritableStream,
      format: known
        ? `${label} {bar} {percentage}% | {value}/{total} files | {done} of {all} | {rate} | {left}`
        : `${label}: {value} objects | {done} | {rate}`,
      hideCursor: true,
      clearOnComplete: false,
      fps: 5,
      etaBuffer: 50,
    });
    const payload = () => {
      const r = rates();
      return {
        done: formatBytes(bytes),
        all: formatBytes(total.bytes),
        rate: `${Math.round(r.filesPerSecond)} files/s, ${formatBytes(r.bytesPerSecond)}/s`,
        left: r.secondsLeft === undefined ? '' : `${formatSeconds(r.secondsLeft)} left`,
      };
    };
    bar.start(total.files, 0, payload());
    return {
      add(f, b) {
        files += f;
        bytes += b;
        bar.update(files, payload());
      },
      stop() {
        bar.update(files, payload());
        bar.stop();
      },
    };
  }

  const line = (): void => {
    const r = rates();
    const rate = `${Math.round(r.filesPerSecond)} files/s, ${formatBytes(r.bytesPerSecond)}/s`;
    out.write(
      known
        ? `${label}: ${files}/${total.files} files, ${formatBytes(bytes)} of ${formatBytes(total.bytes)}, ${rate}` +
            `${r.secondsLeft === undefined ? '' : `, about ${formatSeconds(r.secondsLeft)} left`}\n`
        : `${label}: ${files} objects, ${formatBytes(bytes)}, ${rate}\n`,
    );
  };
  const timer = setInterval(line, PLAIN_INTERVAL_MS);
  timer.unref();
  return {
    add(f, b) {
      files += f;
      bytes += b;
    },
    stop() {
      clearInterval(timer);
    },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
