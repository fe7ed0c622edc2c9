import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import type { AppDeps, AppExtensions } from '../deps.ts';

/**
 * Gatehouse's security headers (helmet): a strict CSP for its own pages, HSTS over https,
 * and helmet's other defaults (nosniff, frame and referrer policies, …).
 */
export function securityHeaders(
  deps: Pick<AppDeps, 'config' | 'idp'>,
  extensions: Pick<AppExtensions, 'formActionOrigins'> = {},
): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
        // Sign-out posts to Gatehouse, which redirects to the IdP's end-session endpoint:
        // Chromium checks that redirect against form-action too.
        formAction: ["'self'", new URL(deps.idp.issuer).origin, ...(extensions.formActionOrigins ?? [])],
        ...(deps.config.secureCookies ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    strictTransportSecurity: deps.config.secureCookies,
  }) as RequestHandler;
}

/**
 * The headers a middleware sets on every response, recorded once: helmet's are the same for
 * every request, so the `/api` fast path sets the recorded list instead of running helmet
 * per request. Throws if the middleware does anything but set headers.
 */
export function recordHeaders(middleware: RequestHandler): ReadonlyArray<readonly [string, string]> {
  const headers = new Map<string, string>();
  const recorder = {
    setHeader(name: string, value: unknown) {
      headers.set(name.toLowerCase(), String(value));
      return recorder;
    },
    removeHeader(name: string) {
      headers.delete(name.toLowerCase());
    },
    getHeader(name: string) {
      return headers.get(name.toLowerCase());
    },
    hasHeader(name: string) {
      return headers.has(name.toLowerCase());
    },
  };
  let called = false;
  middleware(
    { headers: {}, method: 'GET', url: '/' } as unknown as IncomingMessage as never,
    recorder as unknown as ServerResponse as never,
    (error?: unknown) => {
      if (error) throw error;
      called = true;
    },
  );
  if (!called) throw new Error('the security-header middleware did not finish synchronously');
  return [...headers];
}
