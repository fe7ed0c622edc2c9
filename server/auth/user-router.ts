import { Router } from 'express';
import type { AppDeps } from '../deps.ts';
import { answersIn } from '../http/error-format.ts';
import { noStore } from '../http/no-store.ts';
import { requireGrant, sessionExpiresAt } from './load-caller.ts';

/**
 * `GET /auth/user` (JSON): who is signed in, their claims and when the session ends. Reached by
 * the browser session, a handle, or an API token (the one route besides /api a token may call).
 */
export function userRouter(deps: Pick<AppDeps, 'config'>): Router {
  const { config } = deps;
  const limits = config.session;
  const router = answersIn('json', Router());
  router.use(noStore);

  router.get('/', requireGrant, (req, res) => {
    const grant = req.grant!;
    const claims = grant.claims;
    res.json({
      sub: grant.sub,
      name: claims.name ?? claims.preferred_username ?? null,
      email: claims.email ?? null,
      claims,
      session: {
        via: grant.via,
        createdAt: new Date(grant.createdAt).toISOString(),
        expiresAt: new Date(sessionExpiresAt(req, grant, limits)).toISOString(),
      },
      logoutUrl: '/auth/logout',
    });
  });

  return router;
}
