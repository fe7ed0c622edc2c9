import { Router } from 'express';
import type { AppDeps } from './deps.ts';
import { errorFormat } from './http/error-format.ts';
import { noStore } from './http/no-store.ts';
import { gatehouseVersion } from './version.ts';

/**
 * `GET /healthz` (the process answers) and `GET /readyz` (it can serve: the store answers within
 * 2 s and the IdP's key set is reachable), both JSON. A 503 `not_ready` names each reason.
 * `/readyz` also says which Gatehouse answers: its version and the seconds its process has run
 * (what `npm run doctor` reports about a running Gatehouse; nothing about users or settings).
 */
export function healthRouter(deps: Pick<AppDeps, 'store' | 'idp'>): Router {
  const { store, idp } = deps;
  const router = Router();
  router.use(['/healthz', '/readyz'], errorFormat('json'));

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', noStore, async (_req, res) => {
    const problems: string[] = [];
    try {
      await withTimeout(store.ping(), 2000);
    } catch {
      problems.push('store unreachable');
    }
    const idpProblem = await idp.readinessProblem();
    if (idpProblem) problems.push(idpProblem);
    const about = { version: gatehouseVersion, uptimeSeconds: Math.floor(process.uptime()) };
    if (problems.length)
      res.status(503).json({ status: 'unavailable', error: 'not_ready', reasons: problems, ...about });
    else res.json({ status: 'ready', ...about });
  });

  return router;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_resolve, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref()),
  ]);
}
