import { describe, expect, it } from 'vitest';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { routeDispatcher } from '../../src/routes/dispatch.js';

/** How many times the dispatcher fell back to Express' req.path getter. */
let pathReads = 0;

/**
 * Which handler a request reaches through oidc.router's dispatcher. `url` is req.url (mount-relative,
 * as a router sees it); req.path is what Express' getter gives (parseurl: the pathname).
 */
function reach(method: string, url: string): string {
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
  const req = {
    method,
    url,
    get path() {
      pathReads++;
      return new URL(url, 'http://rp.example').pathname;
    },
  };
  dispatch(req as Request, {} as Response, (() => undefined) as NextFunction);
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
  it('matches the path without the query, read from req.url without Express’ req.path getter', () => {
    pathReads = 0;
    expect(reach('GET', '/oidc/authenticate?next=%2Fhome')).toBe('login');
    expect(reach('GET', '/oidc/logout')).toBe('logout-get');
    expect(reach('GET', '/other?x=/oidc/logout')).toBe('sessionRefresh');
    expect(pathReads).toBe(0);
  });
  it('leaves targets that are not plain origin-form to req.path (absolute-form, #, whitespace)', () => {
    pathReads = 0;
    expect(reach('GET', 'http://rp.example/oidc/authenticate?x=1')).toBe('login');
    expect(reach('GET', '/oidc/authenticate#frag')).toBe('login');
    expect(pathReads).toBe(2);
  });
});
