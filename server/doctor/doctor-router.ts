import { Router } from 'express';
import { safeReturnTo } from '../auth/return-to.ts';
import type { AppDeps } from '../deps.ts';
import { rateLimited, unauthenticated } from '../errors.ts';
import { hashHandle, randomHandle } from '../random.ts';
import { noStore } from '../http/no-store.ts';
import { doctorReport } from './check-result.ts';
import { checkUserAudiences, type UserAudienceOptions } from './check-user-audiences.ts';
import { statusMarks } from './render-checklist.ts';

/**
 * Doctor runs per user and minute: each may reach the IdP (a token per upstream, introspection),
 * so a script looping on it would make Gatehouse hammer the IdP on its behalf.
 */
export const maxDoctorRunsPerMinute = 10;

/**
 * `GET /auth/doctor`: the doctor checks that need a signed-in user's token (seed 004's missing
 * audience mapper), as a page, or as JSON (`{status, checks}`, like `npm run doctor --json`)
 * when the request accepts JSON. Anonymous: a page request is sent to sign-in and back, a JSON
 * one gets 401 `unauthenticated`. Neither form ever holds a token. Limited to
 * {@link maxDoctorRunsPerMinute} per user (all sessions, every instance), then 429 with Retry-After.
 */
export function doctorRouter(
  deps: Pick<AppDeps, 'idp' | 'clock' | 'store' | 'logger'>,
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
    await countRun(req.grant.sub);
    const report = doctorReport(await checkUserAudiences(req.grant, { ...options, idp: deps.idp, clock: deps.clock }));
    if (wantsJson) {
      res.json(report);
      return;
    }
    res.render('doctor', { title: 'Doctor', report, marks: statusMarks });
  });

  /** Counts one run for `sub` in the store (a set per minute of the injected clock); 429 past the limit. */
  async function countRun(sub: string): Promise<void> {
    const now = deps.clock();
    const minute = Math.floor(now / 60_000);
    const key = `doctor-runs:${hashHandle(sub)}:${minute}`;
    if ((await deps.store.members(key)).length >= maxDoctorRunsPerMinute) {
      deps.logger.warn('rate limited', { limit: 'auth_doctor', sub });
      throw rateLimited(((minute + 1) * 60_000 - now) / 1000);
    }
    await deps.store.addToSet(key, randomHandle(9), 120_000);
  }

  return router;
}
