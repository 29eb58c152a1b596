import { BlockJoiner } from '../../lib/util/streams';

const KiB = 1024;

/** Writes `chunks` without waiting for anything; `acknowledged()` tells how many writes the joiner has taken. */
function writer(joiner: BlockJoiner) {
  let acknowledged = 0;
  return {
    write: async (chunks: Buffer[]): Promise<void> => {
      for (const chunk of chunks) {
        joiner.write(chunk, () => {
          acknowledged++;
        });
      }
      await new Promise((resolve) => setImmediate(resolve));
    },
    acknowledged: () => acknowledged,
  };
}

async function readAll(joiner: BlockJoiner): Promise<Buffer[]> {
  const blocks: Buffer[] = [];
  for await (const block of joiner) blocks.push(block as Buffer);
  return blocks;
}

describe('BlockJoiner', () => {
  it('passes every byte on in order, joined into blocks of at least 64 KiB but the last', async () => {
    const joiner = new BlockJoiner();
    const chunks = Array.from({ length: 5000 }, (_, i) => Buffer.alloc((i % 97) + 1, i % 256));
    const reading = readAll(joiner);
    for (const chunk of chunks) if (!joiner.write(chunk)) await new Promise((resolve) => joiner.once('drain', resolve));
    joiner.end();
    const blocks = await reading;
    expect(Buffer.concat(blocks).equals(Buffer.concat(chunks))).toBe(true);
    for (const block of blocks.slice(0, -1)) expect(block.length).toBeGreaterThanOrEqual(64 * KiB);
  });

  it('holds the writer back while the reader is not reading, so file data cannot pile up', async () => {
    const joiner = new BlockJoiner();
    const writes = writer(joiner);
    await writes.write(Array.from({ length: 1000 }, () => Buffer.alloc(KiB)));
    // At most one sealed block waits, plus the next one being joined.
    expect(writes.acknowledged() * KiB).toBeLessThanOrEqual(2 * 64 * KiB);
    expect(writes.acknowledged()).toBeGreaterThan(0);
    joiner.destroy();
  });

  it('after takeTheRest, takes 100,000 tiny writes at once while the reader waits, and hands them on in a few blocks', async () => {
    const joiner = new BlockJoiner();
    const head = Array.from({ length: 300 }, () => Buffer.alloc(KiB, 1));
    const tail = Array.from({ length: 100_000 }, (_, i) => Buffer.from([i & 255, (i >> 8) & 255, 7, 9]));
    const writes = writer(joiner);
    await writes.write(head); // the reader is not reading: most of these are held
    expect(writes.acknowledged()).toBeLessThan(head.length);
    joiner.takeTheRest();
    await writes.write(tail);
    expect(writes.acknowledged()).toBe(head.length + tail.length);
    joiner.end();
    const blocks = await readAll(joiner);
    expect(Buffer.concat(blocks).equals(Buffer.concat([...head, ...tail]))).toBe(true);
    expect(blocks.length).toBeLessThanOrEqual(Math.ceil((300 * KiB + 400_000) / (64 * KiB)) + 1);
  });

  it('reports a destroy with an error to its reader', async () => {
    const joiner = new BlockJoiner();
    joiner.write(Buffer.from('partial'));
    const reading = readAll(joiner);
    joiner.destroy(new Error('upstream failed'));
    await expect(reading).rejects.toThrow('upstream failed');
  });
});
