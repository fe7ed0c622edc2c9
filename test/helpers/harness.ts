import { devUsers } from '../../server/dev/dev-idp.ts';
import { createLogger } from '../../server/log.ts';
import { type Gatehouse, type StartOptions, start } from '../../server/main.ts';
import { CookieBrowser } from './cookie-browser.ts';
import { freePort } from './ports.ts';

/** A Gatehouse with its embedded IdP, on free ports, with its log lines captured. */
export interface TestGatehouse {
  gh: Gatehouse;
  url: string;
  issuer: string;
  /** Every log line Gatehouse wrote. */
  logs: string[];
  stop(): Promise<void>;
}

/** A settable clock for lifetime tests. */
export class TestClock {
  constructor(public now = Date.now()) {}
  readonly read = (): number => this.now;
  advance(ms: number): void {
    this.now += ms;
  }
}

/** Starts Gatehouse in development mode (embedded IdP) with `env` on top of test defaults. */
export async function startGatehouse(env: Record<string, string> = {}, options: Omit<StartOptions, 'env' | 'logger'> = {}): Promise<TestGatehouse> {
  const [port, idpPort] = [await freePort(), await freePort()];
  const logs: string[] = [];
  const gh = await start({
    env: {
      NODE_ENV: 'test',
      GATEHOUSE_PORT: String(port),
      GATEHOUSE_PUBLIC_URL: `http://localhost:${port}`,
      GATEHOUSE_DEV_IDP_PORT: String(idpPort),
      GATEHOUSE_SESSION_SECRET: 'test-session-secret-that-is-long-enough-0123',
      GATEHOUSE_LOG_LEVEL: 'debug',
      ...env,
    },
    logger: createLogger('debug', (line) => logs.push(line)),
    ...options,
  });
  return { gh, url: gh.url, issuer: gh.config.oidc.issuer!, logs, stop: () => gh.stop() };
}

/**
 * Signs in through the real flow: Gatehouse → IdP login form → IdP → callback → returnTo.
 * Returns the last page reached.
 */
export async function signIn(gatehouse: TestGatehouse, browser: CookieBrowser, username = 'alice', returnTo = '/') {
  const user = devUsers.find((u) => u.username === username)!;
  const loginPage = await browser.navigate(`${gatehouse.url}/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
  if (!loginPage.url.startsWith(gatehouse.issuer)) return loginPage; // already signed in at the IdP
  return browser.submitForm(loginPage.url, loginPage.body, { username, password: user.password });
}

/**
 * Follows a sign-in from `startUrl` (Gatehouse's /auth/login by default) through the IdP,
 * filling its login form when it shows one, and stops at the redirect back to
 * `callbackPath`: returns that callback URL unvisited.
 */
export async function callbackUrlFor(
  gatehouse: TestGatehouse,
  browser: CookieBrowser,
  username = 'alice',
  startUrl = `${gatehouse.url}/auth/login`,
  callbackPath = '/auth/callback',
): Promise<string> {
  const user = devUsers.find((u) => u.username === username)!;
  let url = startUrl;
  let init: RequestInit = {};
  for (let hop = 0; hop < 15; hop++) {
    if (url.startsWith(`${gatehouse.url}${callbackPath}`)) return url;
    const response = await browser.request(url, init);
    init = {};
    const location = response.headers.get('location');
    if (location) {
      url = new URL(location, url).href;
      continue;
    }
    const action = /<form[^>]*action="([^"]+)"/.exec(await response.text());
    if (!action) throw new Error(`sign-in stuck at ${url} (${response.status})`);
    url = new URL(action[1]!, url).href;
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password: user.password }).toString(),
    };
  }
  throw new Error(`too many redirects from ${startUrl}`);
}

export { CookieBrowser };
