import session from 'express-session';
import { hashHandle } from '../random.ts';
import type { Store } from '../store/store.ts';

/**
 * express-session's store, backed by our {@link Store}. The session id is a handle like any
 * other: only its SHA-256 is used as a key, so a store dump opens no session.
 */
export class SessionStoreAdapter extends session.Store {
  constructor(
    private readonly store: Store,
    private readonly ttlMs: (session: session.SessionData) => number,
  ) {
    super();
  }

  /** The stored session, or undefined (none, or unreadable). */
  async read(sid: string): Promise<session.SessionData | undefined> {
    return parseSession(await this.store.get(key(sid))) ?? undefined;
  }

  /** Writes the session record, living as long as the session may. */
  async write(sid: string, data: session.SessionData): Promise<void> {
    await this.store.set(key(sid), JSON.stringify(data), this.ttlMs(data));
  }

  /** Rewrites the session record only while it exists: a logout meanwhile stays a logout. */
  async writeIfPresent(sid: string, data: session.SessionData): Promise<void> {
    await this.store.setIfPresent(key(sid), JSON.stringify(data), this.ttlMs(data));
  }

  /** Deletes the session record. */
  async remove(sid: string): Promise<void> {
    await this.store.delete(key(sid));
  }

  override get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void {
    this.read(sid).then(
      (data) => callback(null, data ?? null),
      (error) => callback(error),
    );
  }

  override set(sid: string, data: session.SessionData, callback?: (err?: unknown) => void): void {
    this.write(sid, data).then(
      () => callback?.(),
      (error) => callback?.(error),
    );
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.remove(sid).then(
      () => callback?.(),
      (error) => callback?.(error),
    );
  }

  // The idle timeout is enforced from `lastSeenAt` (see load-caller.ts), not by rewriting
  // the record on every request.
  override touch(_sid: string, _data: session.SessionData, callback?: () => void): void {
    callback?.();
  }
}

/** An unreadable record is no session: the browser is treated as signed out, never crashed on. */
function parseSession(raw: string | undefined): session.SessionData | null {
  if (raw === undefined) return null;
  try {
    return JSON.parse(raw) as session.SessionData;
  } catch {
    return null;
  }
}

function key(sid: string): string {
  return `session:${hashHandle(sid)}`;
}
