import type { Request, Response } from 'express';
import { cookieOptions, readCookie } from '../http/cookies.ts';

/** What the page after a sign-out tells: API tokens that stay active, or that were revoked with it. */
export interface SignedOutTokens {
  remaining: number;
  revoked: number;
}

const maxAgeMs = 10 * 60 * 1000;

/** The short-lived cookie that carries {@link SignedOutTokens} across the IdP's end-session round trip. */
export function signedOutCookie(secure: boolean): string {
  return secure ? '__Host-gatehouse-signed-out' : 'gatehouse-signed-out';
}

/** Sets it at sign-out. Two counts, nothing secret: it only shapes this browser's own page. */
export function writeSignedOut(res: Response, secure: boolean, tokens: SignedOutTokens): void {
  res.cookie(signedOutCookie(secure), `${tokens.remaining}.${tokens.revoked}`, {
    ...cookieOptions(secure),
    maxAge: maxAgeMs,
  });
}

/** The counts of the last sign-out in this browser, or undefined when there was none lately. */
export function readSignedOut(req: Request, secure: boolean): SignedOutTokens | undefined {
  const match = /^(\d{1,6})\.(\d{1,6})$/.exec(readCookie(req, signedOutCookie(secure)) ?? '');
  return match ? { remaining: Number(match[1]), revoked: Number(match[2]) } : undefined;
}
