/**
 * Reading callgrind dumps (valgrind's instruction counter, bench/instructions.ts): each function's
 * exclusive count, and those counts grouped by what executes them.
 */
/**
 * A callgrind dump (its documented format, "Callgrind Format Specification"): the total and each
 * function's exclusive count. A cost line right after `calls=` is the call's inclusive cost,
 * already counted in the callee, so it is skipped; with compressed names, `fn=(id) name` or
 * `cfn=(id) name` names an id once and `fn=(id)` reuses it.
 */
export function exclusiveCounts(dump: string): { total: number; byFunction: Map<string, number> } {
  const names = new Map<string, string>();
  const byFunction = new Map<string, number>();
  let total = 0;
  let fn = '';
  let afterCall = false;
  for (const line of dump.split('\n')) {
    if (line.startsWith('summary:') || line.startsWith('totals:')) {
      total = Number(line.slice(line.indexOf(':') + 1));
    } else if (line.startsWith('fn=') || line.startsWith('cfn=')) {
      // A function's name is given once, by fn= or cfn= (compressed) or on every line (not).
      const m = /^c?fn=(?:\((\d+)\))? ?(.*)$/.exec(line);
      if (!m || (m[1] === undefined && m[2] === '')) throw new Error(`unexpected callgrind line: ${line}`);
      const name = m[2] ? m[2] : (names.get(m[1] as string) ?? `fn ${m[1]}`);
      if (m[1] !== undefined && m[2]) names.set(m[1], m[2]);
      if (line.startsWith('fn=')) fn = name;
    } else if (line.startsWith('calls=')) {
      afterCall = true;
    } else if (/^[+\-*\d]/.test(line)) {
      if (afterCall) afterCall = false;
      else byFunction.set(fn, (byFunction.get(fn) ?? 0) + Number(line.split(' ')[1] ?? 0));
    }
  }
  return { total, byFunction };
}

/**
 * Where instructions go, by what executes them (exclusive counts, so the buckets add up to the
 * total). First match wins.
 */
/** V8's parsers and compilers: warm-up, and again after a deoptimisation. */
export const COMPILING = 'compiling JavaScript';
export const MAJOR_GC = 'full GC (mark-compact)';
export const BUCKETS: [string, RegExp][] = [
  ['JSON.parse / JSON.stringify', /Json(Stringifier|Parser)|JsonString|json_/i],
  ['hashing (SHA-1, SHA-256, HMAC)', /sha1_|sha256_|sha512_|SHA1|SHA256|HMAC/],
  // A full (mark-compact) collection runs when the old generation reaches its limit: once in some
  // windows of requests and not in others, so it is counted apart (MAJOR_GC).
  [MAJOR_GC, /MarkCompact|Marking|Sweep|Evacuat|Compactor|ProcessMarkingWorklist|MarkingBarrier|IncrementalMarking/],
  ['young-generation GC (scavenges)', /Scaveng|IterateAndScavenge|BodyDescriptor|Heap::|GCTracer|MemoryAllocator|WriteBarrier/],
  [
    'property lookups, inline-cache misses, map transitions',
    /LookupIterator|LoadIC|StoreIC|KeyedLoad|KeyedStore|StubCache|FeedbackNexus|MigrateToMap|DescriptorArray|FieldIndex|Map::|MakePrototypesFast|PrototypeIterator|TransitionsAccessor|IC::|Runtime_/,
  ],
  [COMPILING, /compiler::|maglev|Maglev|Turbofan|Compile|Parser|Bytecode|Scanner|Zone::/],
  // Machine code V8 generated has no symbol: callgrind names it by address.
  ['JIT-compiled JavaScript', /^0x[0-9a-f]+$/],
  ['V8 builtins', /Builtins_/],
  ['malloc / free / memcpy', /malloc|_int_free|cfree|memcpy|memmove|memset/],
  ['node, libuv, kernel calls', /node::|uv_|uv__|epoll|writev|read|syscall|llhttp/],
];
export const OTHER = 'other (V8 runtime, libc, ...)';

export function bucketsOf(byFunction: Map<string, number>): Map<string, number> {
  const sums = new Map<string, number>([...BUCKETS.map(([name]) => [name, 0] as [string, number]), [OTHER, 0]]);
  for (const [fn, n] of byFunction) {
    const bucket = BUCKETS.find(([, re]) => re.test(fn))?.[0] ?? OTHER;
    sums.set(bucket, (sums.get(bucket) ?? 0) + n);
  }
  return sums;
}

/** Every bucket's name, in table order. */
export const BUCKET_NAMES = [...BUCKETS.map(([name]) => name), OTHER];
