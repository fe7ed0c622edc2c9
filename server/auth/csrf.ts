import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';

/**
 * True when a state-changing request proves it comes from us: the `X-CSRF: 1` header (a
 * cross-site page cannot send a custom header without a CORS preflight, which Gatehouse never
 * grants) or, for Gatehouse's own HTML forms, the per-session token in the `csrf` field.
 */
export function hasCsrfProof(req: Request): boolean {
  if (req.get('x-csrf') === '1') return true;
  const expected = req.session?.csrfToken;
  const sent = (req.body as Record<string, unknown> | undefined)?.csrf;
  if (!expected || typeof sent !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(sent);
  return a.length === b.length && timingSafeEqual(a, b);
}
