/**
 * One fake OP + one RP shared by a describe block: started in beforeAll, closed in afterAll, the
 * provider's behaviour reset and the RP's log cleared before each test.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startFakeOp, type FakeOp, type FakeOpOptions } from './fake-op.js';
import { startRpApp, type RpApp } from './rp-app.js';
import type { OidcAuthOptions } from '../../src/types.js';

export interface FakeOpFixture {
  op(): FakeOp;
  rp(): RpApp;
}

export function fakeOpFixture(rpOptions: (op: FakeOp) => OidcAuthOptions, opOptions: FakeOpOptions = {}): FakeOpFixture {
  let op: FakeOp | undefined;
  let rp: RpApp | undefined;
  beforeAll(async () => {
    op = await startFakeOp(opOptions);
    rp = await startRpApp({ oidc: rpOptions(op) });
  });
  afterAll(async () => {
    await rp?.close();
    await op?.close();
  });
  beforeEach(() => {
    op?.reset();
    if (rp) rp.logs.length = 0;
  });
  return { op: () => op as FakeOp, rp: () => rp as RpApp };
}
