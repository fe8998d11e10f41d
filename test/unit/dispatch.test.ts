import { describe, expect, it } from 'vitest';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { routeDispatcher } from '../../src/routes/dispatch.js';

/** Which handler a request reaches through oidc.router's dispatcher. */
function reach(method: string, path: string): string {
  let hit = '';
  const mark =
    (name: string): RequestHandler =>
    () => {
      hit = name;
    };
  const dispatch = routeDispatcher(
    [
      ['GET', '/oidc/authenticate', mark('login')],
      ['POST', '/oidc/logout', mark('logout-post')],
      ['GET', '/oidc/logout', mark('logout-get')],
    ],
    mark('sessionRefresh'),
  );
  dispatch({ method, path } as Request, {} as Response, (() => undefined) as NextFunction);
  return hit;
}

describe('routeDispatcher (oidc.router): the same matching rules as an Express Router', () => {
  it('dispatches by method and path', () => {
    expect(reach('GET', '/oidc/authenticate')).toBe('login');
    expect(reach('POST', '/oidc/logout')).toBe('logout-post');
    expect(reach('GET', '/oidc/logout')).toBe('logout-get');
  });
  it('treats HEAD as GET, ignores case and one trailing slash (Express defaults)', () => {
    expect(reach('HEAD', '/oidc/authenticate')).toBe('login');
    expect(reach('GET', '/OIDC/Authenticate')).toBe('login');
    expect(reach('GET', '/oidc/authenticate/')).toBe('login');
  });
  it('sends everything else to sessionRefresh', () => {
    expect(reach('POST', '/oidc/authenticate')).toBe('sessionRefresh');
    expect(reach('GET', '/oidc/authenticate/x')).toBe('sessionRefresh');
    expect(reach('GET', '/')).toBe('sessionRefresh');
    expect(reach('DELETE', '/oidc/logout')).toBe('sessionRefresh');
  });
});
