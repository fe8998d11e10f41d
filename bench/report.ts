/**
 * What the benchmark scripts print: lines on stdout, kept for BENCH_RESULTS_FILE, and Markdown
 * tables padded so they also read as plain text.
 */
import { writeFileSync } from 'node:fs';

const out: string[] = [];

/** Print, and keep for BENCH_RESULTS_FILE. */
export function say(line = ''): void {
  console.log(line);
  out.push(line);
}

/** A Markdown table, columns padded so it also reads as plain text. */
export function table(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  say(line(head));
  say(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) say(line(r));
}

/** Everything said so far, written to BENCH_RESULTS_FILE when it is set. */
export function writeResultsFile(): void {
  if (process.env.BENCH_RESULTS_FILE) writeFileSync(process.env.BENCH_RESULTS_FILE, `${out.join('\n')}\n`);
}
