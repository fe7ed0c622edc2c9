import express, { Router } from 'express';
import type { AppDeps } from '../deps.ts';
import { AppError } from '../errors.ts';
import { answersIn } from '../http/error-format.ts';
import { noStore } from '../http/no-store.ts';
import { LogoutTokenVerifier } from '../idp/logout-token.ts';
import { observed } from '../observability/observability.ts';

/**
 * `POST /auth/backchannel-logout`: the IdP tells us a session ended there (OpenID Connect
 * Back-Channel Logout 1.0). A server-to-server call: no browser session, no CSRF check; the
 * signed logout_token is the proof. Ends every grant of that `sid` (or of that `sub` when
 * only `sub` is given) in the shared store, so every instance stops honouring them.
 */
export function backchannelLogout(deps: AppDeps): Router {
  const { store, grants, idp, logger, clock } = deps;
  const verifier = new LogoutTokenVerifier({
    issuer: idp.issuer,
    clientId: idp.clientId,
    jwksUri: () => idp.jwksUri,
    store,
    clock,
  });
  const router = answersIn('json', Router());

  router.post(
    '/',
    noStore,
    express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 10 }),
    async (req, res) => {
      observed().backchannelLogout();
      const logoutToken = (req.body as Record<string, unknown> | undefined)?.logout_token;
      if (typeof logoutToken !== 'string' || logoutToken.length === 0) {
        throw new AppError('invalid_request', 'Send one logout_token as an application/x-www-form-urlencoded field.', {
          details: { reason: 'logout_token_missing' },
        });
      }
      const token = await verifier.verify(logoutToken);
      const { sid, sub } = token;

      const ids = sid ? await grants.idsBySid(sid) : await grants.idsBySub(sub!);
      let ended = 0;
      for (const id of ids) {
        const grant = await grants.get(id);
        // A token naming both must match both: a sid of one user never ends another's grant.
        if (!grant || (sub && grant.sub !== sub)) continue;
        if (await grants.end(id)) ended++;
      }
      // Only now is a second delivery a replay (a store failure above is a 503 the IdP retries).
      await verifier.markDone(token);
      logger.info('back-channel logout', { by: sid ? 'sid' : 'sub', ended });
      observed().sessionEnd('revoked', ended);
      res.status(200).end();
    },
  );

  return router;
}
