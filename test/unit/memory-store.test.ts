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

describe('MemorySharedStore: sets of expiring members', () => {
  it("adding to a big set costs the same as to a small one (one user's 50,000 sessions)", async () => {
    const s = store({});
    // Each add used to look at every member twice: 50,000 adds were 2.5 billion steps.
    const started = performance.now();
    for (let i = 0; i < 50_000; i++) await s.addToSet('index:sub:u1', `session-${i}`, 60_000);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await s.members('index:sub:u1')).toHaveLength(50_000);
  });

  it('expired members are dropped as the set grows, and never read; the set lives as long as its longest member', async () => {
    let t = 1_000_000;
    const s = store({}, () => t);
    // 1,000 members, one a second, each living 100 s: at any time about 100 are alive.
    for (let i = 0; i < 1000; i++) {
      await s.addToSet('set', `m-${i}`, 100_000);
      t += 1000;
    }
    const live = await s.members('set');
    expect(live).toHaveLength(99);
    expect(live).toContain('m-999');
    expect(live).not.toContain('m-900');
    // A long-lived member keeps the set after the short ones are gone; then it goes too.
    await s.addToSet('set', 'long', 500_000);
    t += 200_000;
    expect(await s.members('set')).toEqual(['long']);
    t += 300_000;
    expect(await s.members('set')).toEqual([]);
  });

  it('a renewed member takes its new expiry; a removed one is gone at once', async () => {
    let t = 1_000_000;
    const s = store({}, () => t);
    await s.addToSet('set', 'a', 10_000);
    await s.addToSet('set', 'b', 10_000);
    await s.addToSet('set', 'a', 60_000);
    await s.removeFromSet('set', 'b');
    t += 30_000;
    expect(await s.members('set')).toEqual(['a']);
    await s.removeFromSet('set', 'a');
    expect(await s.members('set')).toEqual([]);
    expect(s.size).toBe(0);
  });
});
