/**
 * Reading `WWW-Authenticate` answers in tests: one header may carry several challenges (RFC 9110
 * 11.6.1), e.g. `Bearer realm="x", DPoP realm="x", algs="ES256"` (RFC 9449 7.2). Only the forms
 * this library writes: a scheme, then `name="value"` auth-params separated by ", ".
 */
import { expect } from 'vitest';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export function parseChallenges(header: string | undefined): Challenge[] {
  expect(header).toBeTypeOf('string');
  const text = header as string;
  const param = /([a-z_]+)="([^"]*)"(?:, |$)/y;
  const scheme = /([A-Za-z][A-Za-z0-9-]*)(?: |, |$)/y;
  const out: Challenge[] = [];
  let current: Challenge | undefined;
  let i = 0;
  while (i < text.length) {
    param.lastIndex = i;
    const p = current ? param.exec(text) : null;
    if (p && current) {
      current.params[p[1] as string] = p[2] as string;
      i = param.lastIndex;
      continue;
    }
    scheme.lastIndex = i;
    const s = scheme.exec(text);
    // Nothing but schemes and well-formed auth-params.
    expect(s, `unexpected text at ${i} of ${text}`).not.toBeNull();
    current = { scheme: (s as RegExpExecArray)[1] as string, params: {} };
    out.push(current);
    i = scheme.lastIndex;
  }
  return out;
}

/** The one challenge of `scheme` in the header (it must be there, once). */
export function challengeOf(header: string | undefined, scheme: string): Challenge {
  const found = parseChallenges(header).filter((c) => c.scheme === scheme);
  expect(found, `one ${scheme} challenge in ${header}`).toHaveLength(1);
  return found[0] as Challenge;
}
