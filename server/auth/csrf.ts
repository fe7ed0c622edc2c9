import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import { constantTimeEqual } from '../constant-time.ts';

/**
 * Which proofs a route accepts: `header` only (JSON APIs, called by scripts in the page), or
 * `header-or-form` (also Gatehouse's own HTML forms, which cannot set a header).
 */
export type CsrfProofKinds = 'header' | 'header-or-form';

/**
 * True when a state-changing request proves it comes from us: the `X-CSRF: 1` header (a
 * cross-site page cannot send a custom header without a CORS preflight, which Gatehouse never
 * grants) or, where `accepts` allows it, for Gatehouse's own HTML forms the per-session token
 * in the `csrf` field.
 */
export function hasCsrfProof(req: Request, accepts: CsrfProofKinds = 'header-or-form'): boolean {
  if (hasCsrfHeader(req)) return true;
  if (accepts === 'header') return false;
  const expected = req.session?.csrfToken;
  const sent = (req.body as Record<string, unknown> | undefined)?.csrf;
  if (!expected || typeof sent !== 'string') return false;
  return constantTimeEqual(expected, sent);
}

/** True when the request carries the `X-CSRF: 1` header, the proof JSON API calls must send. */
export function hasCsrfHeader(req: IncomingMessage): boolean {
  return req.headers['x-csrf'] === '1';
}
