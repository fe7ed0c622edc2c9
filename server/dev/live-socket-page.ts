import { Router } from 'express';
import { safeReturnTo } from '../auth/return-to.ts';
import { noStore } from '../http/no-store.ts';

/**
 * `GET /live` (development, with the demo APIs): a page that opens a WebSocket through
 * Gatehouse to the demo Renku API's echo endpoint (`/api/renku/live`) and shows what comes
 * back: the user's claims, as the upstream read them from the access token Gatehouse sent.
 * Signing out (here or in another tab) closes the socket with 4401, and the page says so.
 */
export function liveSocketPage(): Router {
  const router = Router();
  router.get('/', noStore, (req, res) => {
    if (!req.grant) {
      res.redirect(302, `/auth/login?returnTo=${encodeURIComponent(safeReturnTo(req.originalUrl))}`);
      return;
    }
    res.render('live-socket', { title: 'Live socket', socketPath: '/api/renku/live' });
  });
  return router;
}
