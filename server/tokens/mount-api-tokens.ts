import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';
import type { AppDeps, AppExtensions } from '../deps.ts';
import { ApiTokenStore } from '../grants/api-token-store.ts';
import { ApiTokenIssuer } from './token-issuer.ts';
import { apiTokenPurpose, tokensRouters } from './tokens-router.ts';
import { deviceApprovalPurpose, deviceRouters } from './device-router.ts';

/**
 * Mounts Gatehouse API tokens: the bearer check (loadCaller), `/tokens`, `/auth/tokens`, device
 * sign-in (`/auth/device/code`, `/auth/device/token`, `/device`), the callback completions of a
 * token's own authorization, and the home-page link. The `/api` handler takes `apiTokens`
 * from the extensions.
 */
export function mountApiTokens(
  extensions: AppExtensions,
  deps: AppDeps,
  upstreamNames: readonly string[],
  upstreamExamples: Readonly<Record<string, string>> = {},
): { apiTokens: ApiTokenStore; issuer: ApiTokenIssuer } {
  const apiTokens = new ApiTokenStore(deps.store, deps.grants, deps.clock);
  const issuer = new ApiTokenIssuer(deps, apiTokens);
  const { page, json, complete } = tokensRouters(deps, { apiTokens, issuer, upstreamNames, upstreamExamples });
  extensions.apiTokens = apiTokens;
  (extensions.authorizationPurposes ??= {})[apiTokenPurpose] = complete;
  (extensions.routers ??= []).push(['/tokens', page], ['/auth/tokens', json], ['/docs', scriptDocs()]);
  // An anonymous endpoint that stores state: limited like a sign-in start (GATEHOUSE_RATE_LIMIT_LOGIN*).
  const device = deviceRouters(deps, { issuer, upstreamNames, codeRequestLimit: [deps.limits.start('device_code')] });
  extensions.authorizationPurposes[deviceApprovalPurpose] = device.complete;
  // The script's endpoints use no browser session.
  (extensions.sessionless ??= []).push(['/auth/device', device.endpoints]);
  extensions.routers.push(['/device', device.page]);
  (extensions.homeLinksFor ??= []).push(async (grant) => {
    const count = (await apiTokens.listBySub(grant.sub)).length;
    return { href: '/tokens', label: `API tokens (${count})` };
  });
  return { apiTokens, issuer };
}

/**
 * `/docs/scripts.md` and `/docs/examples/…`: the guide the token pages link to and the scripts
 * it names, as plain text, so a user of this Gatehouse can read and download them from it.
 */
function scriptDocs(): Router {
  const docs = fileURLToPath(new URL('../../docs/', import.meta.url));
  const router = express.Router();
  const plainText = {
    index: false,
    fallthrough: true,
    setHeaders: (res: express.Response) => res.setHeader('Content-Type', 'text/plain; charset=utf-8'),
  } as const;
  router.get('/scripts.md', (_req, res) => {
    res.type('text/plain; charset=utf-8').sendFile('scripts.md', { root: docs });
  });
  router.use('/examples', express.static(`${docs}examples`, plainText));
  return router;
}
