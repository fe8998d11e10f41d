/**
 * MemorySharedStore's bounds (src/store/shared-store.ts): a maximum number of entries, with the
 * least recently written evicted past it, and a sweep that looks at a bounded batch per tick.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemorySharedStore } from '../../src/store/shared-store.js';

const stores: MemorySharedStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

function store(opts: ConstructorParameters<typeof MemorySharedStore>[2], now: () => number = Date.now): MemorySharedStore {
  const s = new MemorySharedStore(60_000, now, opts);
  stores.push(s);
  return s;
}

describe('MemorySharedStore: bounded', () => {
  it('past maxEntries the least recently written entries go; the first eviction is reported once', async () => {
    const reported: number[] = [];
    const s = store({ maxEntries: 10, onFirstEviction: (max) => reported.push(max) });
    for (let i = 0; i < 25; i++) await s.set(`k${i}`, 'v', 60_000);
    expect(s.size).toBe(10);
    expect(s.evictions).toBe(15);
    expect(reported).toEqual([10]);
    expect(await s.get('k14')).toBeUndefined();
    expect(await s.get('k15')).toBe('v');
    expect(await s.get('k24')).toBe('v');
  });

  it('a rewrite makes an entry the most recently written (a refreshed token set is not the next to go)', async () => {
    const s = store({ maxEntries: 3 });
    await s.set('a', '1', 60_000);
    await s.set('b', '1', 60_000);
    await s.set('c', '1', 60_000);
    await s.set('a', '2', 60_000);
    await s.set('d', '1', 60_000);
    expect(await s.get('b')).toBeUndefined();
    expect(await s.get('a')).toBe('2');
  });

  it('sets of expiring members count as one entry each and are bounded the same way', async () => {
    const s = store({ maxEntries: 2 });
    await s.addToSet('set-1', 'm', 60_000);
    await s.addToSet('set-2', 'm', 60_000);
    await s.addToSet('set-3', 'm', 60_000);
    expect(s.size).toBe(2);
    expect(await s.members('set-1')).toEqual([]);
    expect(await s.members('set-3')).toEqual(['m']);
  });
});

describe('MemorySharedStore: incremental sweep', () => {
  it('each sweep step drops at most 1,000 expired entries and goes on from there next time', async () => {
    let t = 1_000_000;
    const s = store({}, () => t);
    for (let i = 0; i < 2500; i++) await s.set(`old-${i}`, 'v', 10);
    await s.set('live', 'v', 60_000);
    t += 100;
    expect(s.size).toBe(2501);
    s.sweep();
    expect(s.size).toBe(1501);
    s.sweep();
    expect(s.size).toBe(501);
    s.sweep();
    expect(s.size).toBe(1);
    expect(await s.get('live')).toBe('v');
  });
});
