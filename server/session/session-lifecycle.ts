import type { Request } from 'express';

// express-session's callback methods as promises, in one place.

/**
 * Gives the browser a new, empty session (against fixation), deleting the old record. Works
 * too when this request's session was destroyed earlier on (an idle session ended by
 * loadCaller just before a sign-in callback): the store then only generates a new one, which
 * is what its own `regenerate` does after deleting.
 */
export function regenerateSession(req: Request): Promise<void> {
  if (!req.session) {
    req.sessionStore.generate(req);
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
}

/** Writes the session now, before the response redirects. */
export function saveSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}

/**
 * Deletes the session record; the request goes on without a session (nothing is stored or
 * sent for it). The cookie is cleared by the caller where it matters.
 */
export function destroySession(req: Request): Promise<void> {
  if (!req.session) return Promise.resolve();
  return new Promise((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
}
