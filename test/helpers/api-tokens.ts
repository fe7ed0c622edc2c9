import type { CookieBrowser, TestGatehouse } from './harness.ts';

/** The fields of the create form on /tokens. */
export interface TokenFields {
  name?: string;
  expires_in_days?: string;
  upstreams?: string[];
  read_only?: boolean;
}

/**
 * Creates an API token as a user does on /tokens: reads the page's CSRF token, posts the form,
 * follows Gatehouse → IdP → callback → the token's one-time page, and returns the secret shown
 * there, the page, and its address.
 */
export async function createApiToken(
  gatehouse: Pick<TestGatehouse, 'url'>,
  browser: CookieBrowser,
  fields: TokenFields = {},
): Promise<{ secret: string; page: string; url: string }> {
  const list = await browser.navigate(`${gatehouse.url}/tokens`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(list.body)?.[1];
  if (!csrf) throw new Error(`no CSRF token on /tokens (${list.response.status}: ${list.url})`);
  const form = new URLSearchParams({ csrf, name: fields.name ?? 'analysis script' });
  if (fields.expires_in_days) form.set('expires_in_days', fields.expires_in_days);
  for (const upstream of fields.upstreams ?? []) form.append('upstreams', upstream);
  if (fields.read_only) form.set('read_only', 'on');
  const created = await browser.navigate(`${gatehouse.url}/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  const secret = /id="token-secret" readonly value="([^"]+)"/.exec(created.body)?.[1];
  if (!secret)
    throw new Error(`no token shown (${created.response.status} at ${created.url}): ${created.body.slice(0, 400)}`);
  return { secret, page: created.body, url: created.url };
}

/** A request with `Authorization: Bearer <secret>` and nothing else (no cookie, no X-CSRF). */
export async function withToken(
  url: string,
  secret: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; json: any }> {
  const response = await fetch(url, {
    ...init,
    headers: { authorization: `Bearer ${secret}`, ...(init.headers as Record<string, string>) },
    redirect: 'manual',
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, json };
}
