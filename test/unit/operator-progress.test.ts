/**
 * The operator tool's progress when its output is not a terminal (a log file, CI, nohup): one plain line every 5 s
 * with files, bytes, rates and the time left; nothing after it stops (docs/operations.md, "Commands and options").
 */
import { startProgress } from '../../lib/operator/progress';

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

function capture(): { lines: string[]; out: { write: (text: string) => boolean; isTTY: false } } {
  const lines: string[] = [];
  return { lines, out: { write: (text: string) => lines.push(text) > 0, isTTY: false } };
}

it('writes a plain line every 5 s, with the total, the rates and the time left from the bytes', () => {
  const { lines, out } = capture();
  const progress = startProgress('migrate', { files: 100, bytes: 10 * 1024 * 1024 }, out);
  progress.add(25, 5 * 1024 * 1024);
  jest.advanceTimersByTime(4_999);
  expect(lines).toEqual([]);
  jest.advanceTimersByTime(1);
  expect(lines).toEqual(['migrate: 25/100 files, 5.0 MiB of 10 MiB, 5 files/s, 1.0 MiB/s, about 5 s left\n']);
  progress.stop();
  jest.advanceTimersByTime(20_000);
  expect(lines).toHaveLength(1);
});

it('without a known total (verify walks a listing) counts objects and bytes, and promises no time left', () => {
  const { lines, out } = capture();
  const progress = startProgress('verify', { files: 0, bytes: 0 }, out);
  progress.add(40, 2048);
  jest.advanceTimersByTime(5_000);
  expect(lines).toEqual(['verify: 40 objects, 2.0 KiB, 8 files/s, 410 B/s\n']);
  progress.stop();
});

it('--quiet writes nothing', () => {
  const { lines, out } = capture();
  const progress = startProgress('migrate', { files: 1, bytes: 1 }, out, { quiet: true });
  progress.add(1, 1);
  jest.advanceTimersByTime(60_000);
  progress.stop();
  expect(lines).toEqual([]);
});
