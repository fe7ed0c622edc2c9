import { Router } from 'express';
import { safeReturnTo } from '../auth/return-to.ts';
import type { AppDeps } from '../deps.ts';
import { unauthenticated } from '../errors.ts';
import { noStore } from '../http/no-store.ts';
import { doctorReport } from './check-result.ts';
import { checkUserAudiences, type UserAudienceOptions } from './check-user-audiences.ts';
import { statusMarks } from './render-checklist.ts';

/**
 * `GET /auth/doctor`: the doctor checks that need a signed-in user's token (seed 004's missing
 * audience mapper), as a page, or as JSON (`{status, checks}`, like `npm run doctor --json`)
 * when the request accepts JSON. Anonymous: a page request is sent to sign-in and back, a JSON
 * one gets 401 `unauthenticated`. Neither form ever holds a token.
 */
export function doctorRouter(
  deps: Pick<AppDeps, 'idp' | 'clock'>,
  options: Pick<UserAudienceOptions, 'upstreams' | 'tokens'>,
): Router {
  const router = Router();
  router.use(noStore);

  router.get('/', async (req, res) => {
    const wantsJson = req.accepts(['html', 'json']) === 'json';
    if (!req.grant) {
      if (wantsJson) throw unauthenticated();
      res.redirect(302, `/auth/login?returnTo=${encodeURIComponent(safeReturnTo(req.originalUrl))}`);
      return;
    }
    const report = doctorReport(await checkUserAudiences(req.grant, { ...options, idp: deps.idp, clock: deps.clock }));
    if (wantsJson) {
      res.json(report);
      return;
    }
    res.render('doctor', { title: 'Doctor', report, marks: statusMarks });
  });

  return router;
}
