// The bearer callers of bench/perf/with-gatehouse.sh: signs in at the harness's IdP (its own
// login form: `login`, `password`) and prints `Authorization: Bearer <handle>` as the last line,
// which the harness's compare.sh sends instead of a cookie.
//
//   npx tsx bench/harness-bearer.ts soap       a LiveScore client's IdentityToken (seed 002):
//                                              GetExternalLoginRedirectURL → IdP → ExternalLogin
//   npx tsx bench/harness-bearer.ts api-token  a script's Gatehouse API token (gh_…), created on
//                                              /tokens from a browser session, with its own grant
//
// Environment: GATEHOUSE_URL (default http://127.0.0.1:3340), PERF_USER, PERF_PASSWORD.
import { createApiToken } from '../test/helpers/api-tokens.ts';
import { CookieBrowser } from '../test/helpers/cookie-browser.ts';
import { callSoap, decodeBase64, text } from '../test/helpers/soap.ts';

const gatehouse = process.env.GATEHOUSE_URL ?? 'http://127.0.0.1:3340';
const user = process.env.PERF_USER ?? 'alice';
const password = process.env.PERF_PASSWORD ?? 'wonderland';

/**
 * Follows redirects from `start`, filling the IdP's login form when one is shown, until a URL
 * under `stopAt` is reached; returns that URL without requesting it.
 */
async function signInAt(browser: CookieBrowser, start: string, stopAt: string): Promise<string> {
  let url = start;
  let init: RequestInit = {};
  for (let hop = 0; hop < 20; hop++) {
    if (url.startsWith(stopAt)) return url;
    const response = await browser.request(url, init);
    init = {};
    const location = response.headers.get('location');
    if (location) {
      url = new URL(location, url).href;
      continue;
    }
    const html = await response.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (!action || !/type="password"/.test(html)) throw new Error(`sign-in stuck at ${url} (${response.status})`);
    url = new URL(action.replaceAll('&amp;', '&'), url).href;
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ login: user, password }).toString(),
    };
  }
  throw new Error(`no way from ${start} to ${stopAt}`);
}

async function soapIdentityToken(): Promise<string> {
  const callback = `${gatehouse}/external/callback`;
  const redirect = await callSoap(gatehouse, 'GetExternalLoginRedirectURL', [['RequestURL', callback]]);
  if (redirect.status !== 200) throw new Error(`GetExternalLoginRedirectURL answered ${redirect.status}`);
  const back = new URL(await signInAt(new CookieBrowser(), decodeBase64(text(redirect.body, 'RedirectURL')), callback));
  const signedIn = await callSoap(gatehouse, 'ExternalLogin', [
    ['Code', back.searchParams.get('code') ?? ''],
    ['State', back.searchParams.get('state') ?? ''],
    ['ContextID', text(redirect.body, 'ContextID')],
  ]);
  if (signedIn.status !== 200) throw new Error(`ExternalLogin answered ${signedIn.status}`);
  return text(signedIn.body, 'IdentityToken');
}

async function apiToken(): Promise<string> {
  const browser = new CookieBrowser();
  const callback = await signInAt(browser, `${gatehouse}/auth/login`, `${gatehouse}/auth/callback`);
  const home = await browser.navigate(callback);
  if (home.response.status !== 200) throw new Error(`sign-in ended with ${home.response.status} at ${home.url}`);
  return (await createApiToken({ url: gatehouse }, browser, { name: 'perf harness' })).secret;
}

const kind = process.argv[2];
if (kind !== 'soap' && kind !== 'api-token') {
  process.stderr.write('usage: npx tsx bench/harness-bearer.ts soap|api-token\n');
  process.exit(2);
}
const handle = kind === 'soap' ? await soapIdentityToken() : await apiToken();
process.stdout.write(`Authorization: Bearer ${handle}\n`);
