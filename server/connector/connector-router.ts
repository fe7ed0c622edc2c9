import { Router } from 'express';
import { safeReturnTo } from '../auth/return-to.ts';
import { noStore } from '../http/no-store.ts';
import type { Upstream } from '../upstream-registry.ts';

/** Something the connector page offers to look up (the demo DOIs, in development). */
export interface LookupExample {
  query: string;
  label: string;
}

/** What {@link connectorRouter} needs. */
export interface ConnectorRouterOptions {
  /** The upstreams reachable at `/api/<name>/`; the page calls `dataverse` and `renku`. */
  upstreams: readonly Upstream[];
  /** Lookups to offer as one-click examples; empty outside development. */
  examples?: readonly LookupExample[];
}

/** The upstream names the connector page calls; declared in `GATEHOUSE_APIS` in production. */
export const connectorUpstreams = ['dataverse', 'renku'] as const;

/**
 * Where Renku's web UI is, from the `renku` upstream: Renku 2.x serves its data service at
 * `<renku>/api/data` and project pages at `<renku>/p/<namespace>/<slug>`. Empty when the
 * upstream is not declared that way (the page then links to the project's list here only).
 */
export function renkuWebUrl(upstreams: readonly Upstream[]): string {
  const url = upstreams.find((upstream) => upstream.name === 'renku')?.url ?? '';
  return /\/api\/data$/.test(url) ? url.slice(0, -'/api/data'.length) : '';
}

/**
 * `GET /connector`: the Dataverse-to-Renku connector page. Anonymous browsers are sent to
 * sign-in and come back to the same URL, query included (the page keeps its form state there).
 * The page itself is static; its scripts call `/api/dataverse/…` and `/api/renku/…`.
 */
export function connectorRouter(options: ConnectorRouterOptions): Router {
  const declared = new Set(options.upstreams.map((upstream) => upstream.name));
  const missing = connectorUpstreams.filter((name) => !declared.has(name));
  const renku = renkuWebUrl(options.upstreams);
  const router = Router();

  router.get('/', noStore, (req, res) => {
    if (!req.grant) {
      res.redirect(302, `/auth/login?returnTo=${encodeURIComponent(safeReturnTo(req.originalUrl))}`);
      return;
    }
    res.render('connector', {
      title: 'Dataverse to Renku',
      styles: ['/public/css/connector.css'],
      missing,
      examples: options.examples ?? [],
      renkuWebUrl: renku,
    });
  });

  return router;
}
