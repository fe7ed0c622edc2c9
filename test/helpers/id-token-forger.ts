import { importJWK, SignJWT } from 'jose';
import type { DevIdp } from '../../server/dev/dev-idp.ts';

type Issue = (this: unknown, options?: { use?: string }) => Promise<string>;

/**
 * How a forged id_token is signed: by the IdP's own key (default; with `kid`, the header names
 * that key id instead, as after a key rotation the client has not seen), or in another algorithm.
 */
export type ForgedSignature =
  | { by: 'idp'; kid?: string }
  | { by: 'secret'; alg: 'HS256'; secret: string }
  | { by: 'corrupt' };

/** A running forgery; `restore()` makes the IdP honest again. */
export interface IdTokenForgery {
  /** Every id_token the IdP handed out while forging, for the never-in-a-log checks. */
  issued: string[];
  restore(): void;
}

/**
 * Makes the embedded IdP hand out id_tokens whose claims `rewrite` changed, signed again as
 * `signature` says: by default with the IdP's own key, so the signature is valid and only
 * Gatehouse's claim rules can catch the forgery. What a malicious or broken IdP sends.
 */
export function forgeIdTokens(
  idp: DevIdp,
  rewrite: (claims: Record<string, unknown>) => void,
  signature: ForgedSignature = { by: 'idp' },
): IdTokenForgery {
  const prototype = idp.provider.IdToken.prototype as unknown as { issue: Issue };
  const original = prototype.issue;
  const issued: string[] = [];
  prototype.issue = async function (options) {
    const jwt = await original.call(this, options);
    if (options?.use !== 'idtoken') return jwt;
    const [header, payload, sig] = jwt.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    rewrite(claims);
    let forged: string;
    if (signature.by === 'corrupt') {
      forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    } else if (signature.by === 'secret') {
      forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: signature.alg })
        .sign(new TextEncoder().encode(signature.secret));
    } else {
      const protectedHeader = JSON.parse(Buffer.from(header!, 'base64url').toString()) as { alg: string; kid?: string };
      if (signature.kid !== undefined) protectedHeader.kid = signature.kid;
      const key = await importJWK(idp.signingJwk, idp.signingJwk.alg);
      forged = await new SignJWT(claims).setProtectedHeader(protectedHeader).sign(key);
    }
    issued.push(forged);
    return forged;
  };
  return {
    issued,
    restore: () => {
      prototype.issue = original;
    },
  };
}

/** The id_token's claims, unverified (for reading what the IdP said). */
export function idTokenClaims(idToken: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

/** The parsed log lines that record a refused id_token. */
export function idTokenRefusals(logs: string[]): Array<Record<string, unknown>> {
  return logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.event === 'id_token_refused');
}
