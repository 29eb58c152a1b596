import { ByteLru } from '../../lib/util/lru';

const value = (bytes: number, tag = ''): { byteLength: number; tag: string } => ({ byteLength: bytes, tag });

describe('ByteLru', () => {
  it('returns what was stored, and nothing for a key it never saw', () => {
    const lru = new ByteLru<ReturnType<typeof value>>(100, 50);
    lru.set('a', value(10, 'A'));
    expect(lru.get('a')?.tag).toBe('A');
    expect(lru.get('b')).toBeUndefined();
  });

  it('evicts the least recently used entries first when bytes run out', () => {
    const lru = new ByteLru<ReturnType<typeof value>>(30, 30);
    lru.set('a', value(10));
    lru.set('b', value(10));
    lru.set('c', value(10));
    lru.get('a'); // a is now the most recent; b is the oldest
    lru.set('d', value(10));
    expect(lru.get('b')).toBeUndefined();
    expect([lru.get('a'), lru.get('c'), lru.get('d')].every(Boolean)).toBe(true);
    lru.set('e', value(25)); // needs 25 of 30: evicts until it fits
    expect(lru.bytes).toBeLessThanOrEqual(30);
    expect(lru.get('e')).toBeDefined();
  });

  it('never holds more than its bound, whatever is stored', () => {
    const lru = new ByteLru<ReturnType<typeof value>>(1000, 400);
    let seed = 7;
    for (let i = 0; i < 5000; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      lru.set(`k${seed % 300}`, value(seed % 450));
      expect(lru.bytes).toBeLessThanOrEqual(1000);
    }
    expect(lru.size).toBeGreaterThan(1);
  });

  it('keeps no entry larger than its per-entry limit, and nothing at all when the bound is 0', () => {
    const lru = new ByteLru<ReturnType<typeof value>>(100, 20);
    lru.set('big', value(21));
    expect(lru.get('big')).toBeUndefined();
    const off = new ByteLru<ReturnType<typeof value>>(0, 20);
    off.set('a', value(1));
    expect(off.get('a')).toBeUndefined();
    expect(off.bytes).toBe(0);
  });

  it('counts a replaced entry once', () => {
    const lru = new ByteLru<ReturnType<typeof value>>(100, 100);
    lru.set('a', value(40));
    lru.set('a', value(30));
    expect(lru.bytes).toBe(30);
    expect(lru.size).toBe(1);
  });
});
