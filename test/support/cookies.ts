/** The express-session cookie as the test apps set it (default name connect.sid). */
import type request from 'supertest';

const SESSION_COOKIE = 'connect.sid';

/** The `connect.sid=<value>` pair a response sets, ready for a Cookie header; undefined if none. */
export function sessionCookie(res: request.Response): string | undefined {
  const raw = res.headers['set-cookie'] as unknown as string[] | undefined;
  return raw?.find((v) => v.startsWith(`${SESSION_COOKIE}=`))?.split(';')[0];
}

/** The session id in a `connect.sid=` pair: the signed value is "s:<id>.<signature>". */
export function sessionIdOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(`${SESSION_COOKIE}=`.length));
  return value.slice(2, value.lastIndexOf('.'));
}
