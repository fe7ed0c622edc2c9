import express, { type Express, type Response } from 'express';
import {
  dataverseDatasetJson,
  dataverseSearchItem,
  dataverseVersionJson,
  demoDatasets,
  findDataset,
} from './demo-datasets.ts';
import { bearerTokenCheck } from './demo-token-check.ts';

/**
 * A Dataverse-like API for development and tests, shaped like Dataverse's native API
 * (`{ "status": "OK", "data": … }`, errors `{ "status": "ERROR", "message" }`):
 * `GET /api/datasets/:persistentId/?persistentId=doi:…`,
 * `GET /api/datasets/:persistentId/versions/:latest-published?persistentId=doi:…` and
 * `GET /api/search?q=` and `GET /api/info/version`. Unlike Dataverse (API keys, or bearer tokens checked at the IdP's
 * UserInfo), every call needs a JWT access token with audience `dataverse`. When
 * `dataverseAccounts` is given, a user not in it gets the 403 Dataverse gives a bearer token
 * without a linked Dataverse account.
 */
export function dataverseApi(options: { issuer: string; dataverseAccounts?: readonly string[] }): Express {
  const accounts = options.dataverseAccounts ? new Set(options.dataverseAccounts) : undefined;
  const app = express();
  app.disable('x-powered-by');
  app.use(bearerTokenCheck(options.issuer, 'dataverse', (_code, message) => ({ status: 'ERROR', message })));
  app.use((_req, res, next) => {
    if (!accounts || accounts.has(String((res.locals.claims as { sub: string }).sub))) return next();
    dataverseError(
      res,
      403,
      'Bearer token detected, but no linked user account was found: register your account in this Dataverse first.',
    );
  });

  // Dataverse's own version call; the demo's declared `example`, so the token snippets answer 200.
  app.get('/api/info/version', (_req, res) => {
    res.json({ status: 'OK', data: { version: '6.5', build: 'gatehouse-demo' } });
  });

  // `:persistentId` is a literal path segment in Dataverse's API, not a route parameter.
  app.get(/^\/api\/datasets\/:persistentId\/?$/, (req, res) => {
    const id = typeof req.query.persistentId === 'string' ? req.query.persistentId : '';
    if (!id) return dataverseError(res, 400, 'persistentId is required, e.g. ?persistentId=doi:10.5072/FK2/J8SJZB');
    const dataset = findDataset(id);
    if (!dataset) return dataverseError(res, 404, `Dataset with Persistent ID ${id} not found.`);
    res.json({ status: 'OK', data: dataverseDatasetJson(dataset) });
  });

  app.get(/^\/api\/datasets\/:persistentId\/versions\/:latest-published\/?$/, (req, res) => {
    const id = typeof req.query.persistentId === 'string' ? req.query.persistentId : '';
    const dataset = id ? findDataset(id) : undefined;
    if (!dataset) return dataverseError(res, 404, `Dataset with Persistent ID ${id} not found.`);
    if (dataset.unpublished)
      return dataverseError(res, 404, `Dataset version :latest-published of dataset ${dataset.databaseId} not found`);
    res.json({ status: 'OK', data: dataverseVersionJson(dataset) });
  });

  app.get('/api/search', (req, res) => {
    const q = typeof req.query.q === 'string' ? req.query.q.trim() : '';
    if (!q) return dataverseError(res, 400, 'q parameter is missing');
    const start = Math.max(0, Number(req.query.start) || 0);
    const perPage = Math.min(1000, Math.max(1, Number(req.query.per_page) || 10));
    const type = typeof req.query.type === 'string' ? req.query.type : undefined;
    const words = q === '*' ? [] : q.toLowerCase().split(/\s+/);
    const hits = (type === undefined || type === 'dataset' ? demoDatasets : []).filter((dataset) => {
      const text = [
        dataset.title,
        dataset.description,
        dataset.persistentId,
        ...dataset.keywords,
        ...dataset.authors.map((a) => a.name),
      ]
        .join(' ')
        .toLowerCase();
      return words.every((word) => text.includes(word));
    });
    const items = hits.slice(start, start + perPage).map(dataverseSearchItem);
    res.json({
      status: 'OK',
      data: { q, total_count: hits.length, start, spelling_alternatives: {}, items, count_in_response: items.length },
    });
  });

  app.use((_req, res) => dataverseError(res, 404, 'API endpoint does not exist on this server.'));
  return app;
}

function dataverseError(res: Response, status: number, message: string): void {
  res.status(status).json({ status: 'ERROR', message });
}
