#!/usr/bin/env node
// A script's own access token, for the bearer targets: signs in at the IdP as client
// `bearer-script` (authorization code, the user's password on the IdP's form), exchanges the
// code itself, and prints `Authorization: Bearer <JWT access token for urn:perf:api>` as its last
// line; compare.sh sends that header instead of a Cookie. Nothing listens at the redirect URI:
// the code is taken from the IdP's redirect.
//
//   node scripts/bearer-token.mjs [--check URL]
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { check: { type: 'string' } } });
const issuer = process.env.PERF_ISSUER || 'http://127.0.0.1:3302';
const user = process.env.PERF_USER || 'alice';
const password = process.env.PERF_PASSWORD || 'wonderland';
const clientId = 'bearer-script';
const clientSecret = `${clientId}-secret-0123456789abcdef0123456789abcdef`;
const redirectUri = 'http://127.0.0.1:3309/callback';

const cookies = new Map();
async function go(url, init = {}) {
  const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const response = await fetch(url, {
    ...init,
    redirect: 'manual',
    headers: { ...init.headers, ...(cookie ? { cookie } : {}) },
  });
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair.indexOf('=');
    cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  return response;
}

const state = crypto.randomUUID();
const start = new URL('/auth', issuer);
start.search = new URLSearchParams({
  client_id: clientId,
  response_type: 'code',
  scope: 'openid',
  redirect_uri: redirectUri,
  state,
  resource: 'urn:perf:api',
});
let url = start.href;
let init = {};
let code;
for (let step = 0; step < 15 && !code; step++) {
  const response = await go(url, init);
  init = {};
  const location = response.headers.get('location');
  if (location) {
    url = new URL(location, url).href;
    if (url.startsWith(redirectUri)) {
      const back = new URL(url);
      if (back.searchParams.get('state') !== state) throw new Error('state mismatch');
      code = back.searchParams.get('code');
      if (!code) throw new Error(`no code: ${url}`);
    }
    continue;
  }
  const html = await response.text();
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  if (!action || !/type="password"/.test(html))
    throw new Error(`sign-in stuck at ${url} (${response.status}): ${html.slice(0, 200)}`);
  url = new URL(action, url).href;
  init = {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login: user, password }).toString(),
  };
}
if (!code) throw new Error('no authorization code after 15 steps');

const tokenResponse = await fetch(new URL('/token', issuer), {
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
  },
  body: new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    resource: 'urn:perf:api',
  }).toString(),
});
const tokens = await tokenResponse.json();
if (!tokenResponse.ok || typeof tokens.access_token !== 'string' || tokens.access_token.split('.').length !== 3)
  throw new Error(`token request: ${tokenResponse.status} ${JSON.stringify(tokens).slice(0, 200)}`);
const header = `Authorization: Bearer ${tokens.access_token}`;
if (values.check) {
  const answer = await fetch(values.check, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  const text = await answer.text();
  if (!answer.ok || !text.includes('"bearer":true'))
    throw new Error(`check ${values.check} -> ${answer.status} ${text.slice(0, 200)}`);
}
console.log(header);
