/**
 * The app's users, in an SQLite table (better-sqlite3), and the hooks that connect OpenID Connect
 * logins to them, with mozilla-django-oidc's semantics (`OIDCAuthenticationBackend`): README "User
 * hooks" gives the order (verify, look up, then create or update; several matches refuse the login).
 */
import Database from 'better-sqlite3';
import type { OidcClaims, OidcHooks } from 'express-oidc-rp';

/** A row of `users`, and `req.user` (see the augmentation of Express.User below). */
export interface UserRow {
  id: number;
  /** Issuer and subject of the login that claimed this row; null for a user invited by email who has not logged in yet. */
  iss: string | null;
  sub: string | null;
  email: string | null;
  name: string;
  /** 0: disabled; the user's sessions stop working at their next request (deserializeUser). */
  is_active: number;
  login_count: number;
  created_at: string;
  last_login_at: string | null;
}

declare global {
  namespace Express {
    // What the hooks return is what `req.user` is, and what they receive as `user`: a row.
    interface User extends UserRow {}
  }
}

export function openUserDatabase(path: string): Database.Database {
  const db = new Database(path);
  // WAL: readers (a report, a test) do not block the app's writes, nor the other way round.
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS users (
      id            INTEGER PRIMARY KEY,
      iss           TEXT,
      sub           TEXT,
      -- Not unique, like Django's User.email: two rows can share an address, and a login that
      -- matches both by email is refused rather than given either.
      email         TEXT COLLATE NOCASE,
      name          TEXT NOT NULL DEFAULT '',
      is_active     INTEGER NOT NULL DEFAULT 1,
      login_count   INTEGER NOT NULL DEFAULT 0,
      created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
      last_login_at TEXT,
      UNIQUE (iss, sub)
    )`);
  return db;
}

/** A user the app knows by email before their first login (an invitation, an import). */
export function inviteUser(db: Database.Database, email: string, name = ''): UserRow {
  return db.prepare<[string, string], UserRow>('INSERT INTO users (email, name) VALUES (?, ?) RETURNING *').get(email, name)!;
}

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const displayName = (claims: OidcClaims): string => text(claims.name) ?? text(claims.preferred_username) ?? '';

export function userHooks(db: Database.Database): OidcHooks {
  const bySubject = db.prepare<[string, string], UserRow>('SELECT * FROM users WHERE iss = ? AND sub = ?');
  const invitedByEmail = db.prepare<[string], UserRow>('SELECT * FROM users WHERE sub IS NULL AND email = ?');
  const insert = db.prepare<[string, string, string | null, string], UserRow>(
    `INSERT INTO users (iss, sub, email, name, login_count, last_login_at)
     VALUES (?, ?, ?, ?, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) RETURNING *`,
  );
  const update = db.prepare<[string, string, string | null, string, number], UserRow>(
    `UPDATE users SET iss = ?, sub = ?, email = ?, name = ?, login_count = login_count + 1,
       last_login_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE id = ? RETURNING *`,
  );
  const activeById = db.prepare<[number], UserRow>('SELECT * FROM users WHERE id = ? AND is_active = 1');

  return {
    // mozilla-django-oidc's verify_claims asks for an email claim when the email scope is
    // requested; its docs extend it as `super().verify_claims(claims) and ...`. Here the extra
    // condition is that the provider verified the address, since the lookup below trusts it.
    verifyClaims: (claims) => text(claims.email) !== null && claims.email_verified === true,

    // The login's own row first, by iss + sub: the one identifier a provider never reassigns.
    // Else mozilla-django-oidc's default lookup, by email (case-insensitive here through COLLATE
    // NOCASE), limited to rows that no login has claimed yet: an address can change hands at the
    // provider, a subject cannot. Several rows may come back; the library then refuses the login.
    filterUsersByClaims: (claims) => {
      const own = bySubject.all(claims.iss, claims.sub);
      if (own.length > 0) return own;
      const email = text(claims.email);
      return email === null ? [] : invitedByEmail.all(email);
    },

    // No row matched (and OIDC_CREATE_USER is on, the default): one new row for this login.
    createUser: (claims) => insert.get(claims.iss, claims.sub, text(claims.email), displayName(claims))!,

    // One row matched: refresh what the provider owns (email, name) at every login, and tie an
    // invited row to this login's iss + sub.
    updateUser: (user, claims) => update.get(claims.iss, claims.sub, text(claims.email), displayName(claims), user.id)!,

    // The session keeps the row id only; each request reads the row, so a renamed or disabled user
    // is seen at once. A missing or disabled row makes the session unauthenticated.
    serializeUser: (user) => user.id,
    deserializeUser: (stored) => (typeof stored === 'number' ? activeById.get(stored) : undefined),
  };
}
