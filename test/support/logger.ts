/** An OidcLogger that records what the library logs, so tests can assert that failures say why. */
import type { OidcLogger } from '../../src/types.js';

export interface CapturedLog {
  level: string;
  message: string;
  meta?: Record<string, unknown>;
}

export function captureLogger(logs: CapturedLog[]): OidcLogger {
  const push = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    logs.push({ level, message, ...(meta ? { meta } : {}) });
  };
  return { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}
