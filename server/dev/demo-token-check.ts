import type { RequestHandler } from 'express';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';

/** How a demo API shapes its own 401 body. */
export type TokenErrorBody = (code: 'unauthenticated' | 'invalid_token', message: string) => unknown;

/**
 * What a resource server must do with a bearer JWT (RFC 6750, RFC 9068): verify the signature
 * against the IdP's JWKS (found through discovery), the issuer, the audience and the expiry.
 * On success `res.locals.claims` holds the payload; otherwise a 401 with a Bearer challenge.
 */
export function bearerTokenCheck(issuer: string, audience: string, errorBody: TokenErrorBody): RequestHandler {
  const verify = demoTokenVerifier(issuer, audience);
  return async (req, res, next) => {
    const match = /^Bearer ([\w.~+/-]+=*)$/.exec(req.get('authorization') ?? '');
    if (!match) {
      res.setHeader('WWW-Authenticate', `Bearer realm="${audience}"`);
      res.status(401).json(errorBody('unauthenticated', 'A bearer token is required.'));
      return;
    }
    const verified = await verify(match[1]!);
    if ('reason' in verified) {
      res.setHeader(
        'WWW-Authenticate',
        `Bearer realm="${audience}", error="invalid_token", error_description="${verified.reason.replace(/"/g, "'")}"`,
      );
      res.status(401).json(errorBody('invalid_token', `Invalid access token: ${verified.reason}.`));
      return;
    }
    res.locals.claims = verified.claims;
    next();
  };
}

/**
 * Verifies a bearer JWT as a resource server must: the signature against the IdP's JWKS (found
 * through discovery), the issuer, the audience and the expiry. Resolves with its claims, or
 * with why it is refused (the token itself is never echoed).
 */
export function demoTokenVerifier(
  issuer: string,
  audience: string,
): (token: string) => Promise<{ claims: JWTPayload } | { reason: string }> {
  let keys: ReturnType<typeof createRemoteJWKSet> | undefined;
  const jwks = async (): Promise<ReturnType<typeof createRemoteJWKSet>> => {
    if (!keys) {
      const metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
        jwks_uri: string;
      };
      keys = createRemoteJWKSet(new URL(metadata.jwks_uri));
    }
    return keys;
  };
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, await jwks(), {
        issuer,
        audience,
        algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
        requiredClaims: ['exp', 'sub'],
      });
      return { claims: payload };
    } catch (error) {
      // Say why (audience, expiry, signature), as a resource server should: seed 004 shows
      // what an unexplained 401 costs.
      const reason =
        (error as { code?: string }).code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
          ? `the token's "${(error as { claim?: string }).claim}" claim is not accepted`
          : (error as { code?: string }).code === 'ERR_JWT_EXPIRED'
            ? 'the token has expired'
            : 'the token could not be verified';
      return { reason };
    }
  };
}
