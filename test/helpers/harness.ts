import type { Clock } from '../../server/clock.ts';
import { type DevIdp, type DevIdpOptions, devUsers, startDevIdp } from '../../server/dev/dev-idp.ts';
import { createLogger } from '../../server/log.ts';
import { type Gatehouse, type StartOptions, start } from '../../server/start.ts';
import { randomHandle } from '../../server/random.ts';
import { CookieBrowser } from './cookie-browser.ts';
import { boundServer } from './ports.ts';

/** A Gatehouse with its embedded IdP, on ports the kernel chose, with its log lines captured. */
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
export async function startGatehouse(
  env: Record<string, string> = {},
  options: Omit<StartOptions, 'env' | 'logger'> = {},
): Promise<TestGatehouse> {
  const logs: string[] = [];
  const gh = await start({
    env: {
      NODE_ENV: 'test',
      // Port 0: Gatehouse builds its public URL (unless `env` names one) from the port it got.
      GATEHOUSE_PORT: '0',
      GATEHOUSE_DEV_IDP_PORT: '0',
      GATEHOUSE_SESSION_SECRET: 'test-session-secret-that-is-long-enough-0123',
      GATEHOUSE_LOG_LEVEL: 'debug',
      // Test files sign in many times from 127.0.0.1; test/rate-limits.test.ts sets low limits.
      GATEHOUSE_RATE_LIMIT_LOGIN: '100000/60',
      GATEHOUSE_RATE_LIMIT_FAILED_CREDENTIALS: '100000/300',
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
  gatehouse: Pick<TestGatehouse, 'url'>,
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

/** Whether `browser` has a session at `gatehouse` (its /auth/user answers 200, not 401). */
export async function isSignedIn(gatehouse: { url: string }, browser: CookieBrowser): Promise<boolean> {
  const response = await browser.request(`${gatehouse.url}/auth/user`);
  if (response.status !== 200 && response.status !== 401)
    throw new Error(`unexpected ${response.status} from ${gatehouse.url}/auth/user`);
  return response.status === 200;
}

/**
 * Signs out at the IdP: opens its end-session page and confirms, choosing to end the whole IdP
 * session (`logout=yes`, as the page's script does in a real browser). Returns the IdP's answer
 * to the confirmation, unfollowed.
 */
export async function signOutAtIdp(browser: CookieBrowser, endSessionUrl: string): Promise<Response> {
  const page = await browser.navigate(endSessionUrl);
  const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/.exec(page.body);
  if (!form) throw new Error(`no sign-out confirmation at ${page.url} (${page.response.status})`);
  const fields = new URLSearchParams({ logout: 'yes' });
  for (const input of form[2]!.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g))
    fields.set(input[1]!, input[2]!);
  return browser.request(new URL(form[1]!, page.url).href, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: fields.toString(),
  });
}

/** Several Gatehouse instances behind a (pretend) load balancer, with one embedded IdP. */
export interface TestCluster {
  idp: DevIdp;
  /**
   * The instances, each reachable at its own `url`. All share one public URL, instance 0's,
   * which plays the load balancer: the IdP redirects and delivers back-channel logouts there.
   */
  instances: TestGatehouse[];
  stop(): Promise<void>;
}

/**
 * Starts one embedded IdP and `count` Gatehouse instances registered there as one client, with
 * the same session secret and `env` on top (e.g. `GATEHOUSE_STORE=redis`). Cookies are per host,
 * not per port, so a CookieBrowser signed in on one instance sends its cookie to all.
 */
export async function startCluster(
  count: number,
  env: Record<string, string> = {},
  options: {
    devIdp?: Partial<Pick<DevIdpOptions, 'accessTokenTtlSeconds' | 'refreshTokenTtlSeconds'>>;
    clock?: Clock;
  } = {},
): Promise<TestCluster> {
  // Bound before the IdP starts: it must know the public URL (instance 0's) to register it.
  const bound: Awaited<ReturnType<typeof boundServer>>[] = [];
  for (let i = 0; i < count; i++) bound.push(await boundServer());
  const publicUrl = bound[0]!.url;
  const clientSecret = randomHandle();
  const idp = await startDevIdp({
    port: 0,
    client: {
      clientId: 'gatehouse',
      clientSecret,
      redirectUris: [`${publicUrl}/auth/callback`, `${publicUrl}/external/callback`],
      postLogoutRedirectUris: [`${publicUrl}/`],
      backchannelLogoutUri: `${publicUrl}/auth/backchannel-logout`,
    },
    ...options.devIdp,
  });
  const instances: TestGatehouse[] = [];
  try {
    for (const { server, url } of bound) {
      const gatehouse = await startGatehouse(
        {
          GATEHOUSE_PUBLIC_URL: publicUrl,
          GATEHOUSE_OIDC_ISSUER: idp.issuer,
          GATEHOUSE_OIDC_CLIENT_ID: 'gatehouse',
          GATEHOUSE_OIDC_CLIENT_SECRET: clientSecret,
          ...env,
        },
        { server, ...(options.clock ? { clock: options.clock } : {}) },
      );
      instances.push({ ...gatehouse, url });
    }
  } catch (error) {
    for (const instance of instances) await instance.stop();
    for (const { server } of bound.slice(instances.length)) server.close();
    await idp.close();
    throw error;
  }
  return {
    idp,
    instances,
    stop: async () => {
      for (const instance of instances) await instance.stop();
      await idp.close();
    },
  };
}
