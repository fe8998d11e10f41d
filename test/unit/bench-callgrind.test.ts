// bench/instructions.ts reports instructions per request from callgrind dumps; this checks the
// dump reader on a dump shaped as callgrind writes one (calls= lines, names given once by id).
import { describe, expect, it } from 'vitest';
import { bucketsOf, exclusiveCounts, MAJOR_GC, OTHER } from '../../bench/callgrind.js';

const DUMP = `# callgrind format
version: 1
positions: line
events: Ir
summary: 1000

ob=(1) /usr/bin/node
fl=(1) ???
fn=(1) v8::internal::JsonStringifier::SerializeString(v8::internal::Handle<v8::internal::String>)
0 100
cfn=(2) sha1_block_data_order_avx2
calls=3 0
0 400
0 50

fn=(2)
0 400

fn=(3) 0x000000000d21d500
+2 300
* 20
cfn=(1)
calls=1 0
0 150

fn=(4) v8::internal::MarkCompactCollector::ProcessMarkingWorklist(unsigned long)
0 100

fn=(5) some_libc_function
0 30
`;

describe('bench/callgrind.ts exclusiveCounts', () => {
  it('sums each function’s own cost lines, skipping the inclusive cost line after calls=', () => {
    const { total, byFunction } = exclusiveCounts(DUMP);
    expect(total).toBe(1000);
    expect(Object.fromEntries(byFunction)).toEqual({
      'v8::internal::JsonStringifier::SerializeString(v8::internal::Handle<v8::internal::String>)': 150,
      sha1_block_data_order_avx2: 400,
      '0x000000000d21d500': 320,
      'v8::internal::MarkCompactCollector::ProcessMarkingWorklist(unsigned long)': 100,
      some_libc_function: 30,
    });
    // Exclusive counts partition the total.
    expect([...byFunction.values()].reduce((a, b) => a + b, 0)).toBe(total);
  });

  it('groups functions by what executes them', () => {
    const buckets = bucketsOf(exclusiveCounts(DUMP).byFunction);
    expect(buckets.get('JSON.parse / JSON.stringify')).toBe(150);
    expect(buckets.get('hashing (SHA-1, SHA-256, HMAC)')).toBe(400);
    expect(buckets.get('JIT-compiled JavaScript')).toBe(320);
    expect(buckets.get(MAJOR_GC)).toBe(100);
    expect(buckets.get(OTHER)).toBe(30);
  });

  it('fails loudly on a line it does not understand', () => {
    expect(() => exclusiveCounts('fn=\n')).toThrow(/unexpected callgrind line/);
  });
});
