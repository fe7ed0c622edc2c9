import express, { type Request, type Response, Router } from 'express';
import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';
import { signOutGrant } from '../grants/sign-out-grant.ts';
import { clearSessionCookie } from '../http/cookies.ts';
import { answersIn, errorFormat } from '../http/error-format.ts';
import { noStore } from '../http/no-store.ts';
import { destroySession } from '../session/session-lifecycle.ts';
import { listSessions } from './list-sessions.ts';
import { requireGrant } from './load-caller.ts';
import { observed } from '../observability/observability.ts';

const grantIdPattern = /^[\w-]{16,64}$/;

/**
 * `/auth/sessions`: the signed-in user's sessions. `GET /` lists them (JSON), `DELETE /:id`
 * (with `X-CSRF: 1`) ends one, and `POST /:id/end` does the same for the home page's form
 * (per-session CSRF token), answering with a redirect back to it.
 */
export function sessionsRouter(deps: AppDeps): Router {
  const { config, grants, idp, logger } = deps;
  const router = answersIn('json', Router());
  router.use(noStore);

  router.get('/', requireGrant, async (req, res) => {
    res.json({ sessions: await listSessions(grants, req.grant!) });
  });

  router.delete('/:id', requireGrant, async (req, res) => {
    await endOwnSession(req, res);
    res.status(204).end();
  });

  // The home page's form: a refusal is a page, not JSON.
  router.post(
    '/:id/end',
    errorFormat('html'),
    express.urlencoded({ extended: false, limit: '2kb' }),
    requireGrant,
    async (req, res) => {
      await endOwnSession(req, res);
      res.redirect(303, '/');
    },
  );

  /** Ends one of the caller's own grants; anyone else's is "not found", like one that never was. */
  async function endOwnSession(req: Request, res: Response): Promise<void> {
    const id = String(req.params.id);
    if (!grantIdPattern.test(id)) throw new AppError('invalid_session_id', 'That is not a session id.');
    const caller = req.grant!;
    const target = await grants.get(id);
    if (!target || target.sub !== caller.sub || target.purpose === 'api_token') {
      throw new AppError('session_not_found', 'You have no such session; it may have ended already.');
    }
    await signOutGrant(grants, idp, id);
    const current = id === caller.id;
    if (current) {
      await destroySession(req);
      clearSessionCookie(res, config.secureCookies);
    }
    logger.info('session ended by its user', { sub: caller.sub, current });
    observed().sessionEnd('revoked');
  }

  return router;
}
