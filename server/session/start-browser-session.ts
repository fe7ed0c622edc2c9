import type { Request } from 'express';
import type { SessionData } from 'express-session';
import type { Clock } from '../clock.ts';
import type { Grant, GrantStore } from '../grants/grant-store.ts';
import { signOutGrant } from '../grants/sign-out-grant.ts';
import type { IdpAdapter } from '../idp/idp-adapter.ts';
import { randomHandle } from '../random.ts';
import { regenerateSession, saveSession } from './session-lifecycle.ts';

/** What a sign-in gives the browser session: a grant here, an external sign-in, or both. */
export interface BrowserSignIn {
  grant?: Grant;
  external?: NonNullable<SessionData['external']>;
}

/**
 * Starts the browser's session after a sign-in, the same way for every front door. Signing in
 * again in the same browser replaces its sign-in: the old grant is ended (it would otherwise
 * stay alive, unreachable, with a working refresh token). Then a new session id (no
 * fixation), the grant or external fields, a new CSRF token and the times, saved before the
 * response redirects.
 */
export async function startBrowserSession(
  req: Request,
  deps: { grants: GrantStore; idp: IdpAdapter; clock: Clock },
  signIn: BrowserSignIn,
): Promise<void> {
  if (req.session?.grantId) await signOutGrant(deps.grants, deps.idp, req.session.grantId, signIn.grant);
  await regenerateSession(req);
  const now = deps.clock();
  if (signIn.external) req.session.external = signIn.external;
  if (signIn.grant) req.session.grantId = signIn.grant.id;
  req.session.csrfToken = randomHandle(24);
  req.session.createdAt = now;
  req.session.lastSeenAt = now;
  await saveSession(req);
}
