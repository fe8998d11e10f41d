/**
 * Runs a code block of README.md as written, so a documented set-up is tested by its own text
 * rather than by a copy that can drift from it.
 *
 * A block is found by the HTML comment `<!-- snippet: NAME -->` on the line before its fence
 * (invisible when the README is rendered). Its TypeScript is compiled to CommonJS with the
 * compiler the project already uses, and run as the body of an async function: top-level `await`
 * works, each `import` becomes a `require` answered from the modules the test hands in (an import
 * the test did not provide is an error, even one the compiler would drop as unused, so the snippet
 * cannot pull in anything unseen), and the
 * snippet's free variables (`app`) are the test's. What the snippet declares at top level with
 * `const` or `let` is returned, for the test to drive and close.
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The text of the block marked `<!-- snippet: name -->`; throws when there is not exactly one. */
export function readmeSnippet(name: string): string {
  const marker = `<!-- snippet: ${name} -->`;
  const parts = readme.split(marker);
  if (parts.length !== 2) throw new Error(`README.md has ${parts.length - 1} blocks marked "${marker}", expected 1`);
  const block = /^\s*```ts\n([\s\S]*?)\n```/.exec(parts[1]!);
  if (!block) throw new Error(`README.md: "${marker}" is not followed by a \`\`\`ts block`);
  return block[1]!;
}

type AsyncBody = (require: (name: string) => unknown, exports: object, ...free: unknown[]) => Promise<Record<string, unknown>>;
const AsyncFunction = (async () => undefined).constructor as new (...params: string[]) => AsyncBody;

/**
 * Run `code` with `modules` (import specifier -> module namespace) and `free` (name -> value for
 * the snippet's free variables). Resolves to the snippet's top-level bindings.
 */
export async function runSnippet(code: string, modules: Record<string, object>, free: Record<string, unknown>): Promise<Record<string, unknown>> {
  const declared = [...code.matchAll(/^(?:const|let) (\w+)/gm)].map((m) => m[1]!);
  for (const [, specifier] of code.matchAll(/^import\b[^'"]*['"]([^'"]+)['"]/gm)) {
    if (!(specifier! in modules)) throw new Error(`README snippet imports "${specifier}", which the test does not provide`);
  }
  const { outputText, diagnostics } = ts.transpileModule(code, {
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  if (diagnostics?.length) {
    throw new Error(`README snippet does not parse: ${diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
  }
  const required = (name: string): unknown => {
    const mod = modules[name];
    if (!mod) throw new Error(`README snippet imports "${name}", which the test does not provide`);
    // Marked as an ES module so the compiled default-import helper takes `default` from it.
    return { __esModule: true, ...mod };
  };
  const body = new AsyncFunction('require', 'exports', ...Object.keys(free), `${outputText}\nreturn { ${declared.join(', ')} };`);
  return body(required, {}, ...Object.values(free));
}
