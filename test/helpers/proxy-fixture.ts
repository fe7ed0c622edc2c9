import http from 'node:http';
import { writeApisFile } from './apis-file.ts';
import { EchoUpstream } from './echo-upstream.ts';
import { CookieBrowser, signIn, startGatehouse, TestClock, type TestGatehouse } from './harness.ts';
import { closedPort } from './ports.ts';

/** A raw HTTP exchange (for request targets `fetch` would normalize, and for streaming control). */
export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Gatehouse with echo upstreams declared in a real `GATEHOUSE_APIS` file, a TestClock, and
 * alice signed in through the real flow:
 * - `echo`: token user, audience renku (what the default token carries), API key from the environment
 * - `readonly`: token user, GET only
 * - `open`: token none
 * - `down`: nothing listens there
 * - `slow`: answers nothing within its 300 ms timeout at `/slow`
 * - `stats`: on `statsEcho` (verifies audience stats), token user with resource urn:gatehouse:stats
 * - `wrongaud`: on `statsEcho`, audience stats but no resource: the default token lacks it
 * - `service`: token client (client credentials), audience renku
 */
export interface ProxyFixture {
  gatehouse: TestGatehouse;
  clock: TestClock;
  echo: EchoUpstream;
  statsEcho: EchoUpstream;
  browser: CookieBrowser;
  /** Every raw response, for the token-leak scan. */
  rawSeen: RawResponse[];
  /** A browser API call (cookie + `X-CSRF: 1` unless overridden), recorded in `browser.seen`. */
  call(path: string, init?: RequestInit): Promise<{ response: Response; body: string; json: Record<string, unknown> }>;
  /** A raw request with the browser's cookie; `path` is sent exactly as given. */
  raw(method: string, path: string, headers?: Record<string, string>, body?: string | Buffer[]): Promise<RawResponse>;
  stop(): Promise<void>;
}

export const echoApiKey = 'echo-api-key-from-the-environment';

/** Starts the fixture; `env` and `maxBody` tune Gatehouse. */
export async function startProxyFixture(
  options: {
    env?: Record<string, string>;
    accessTokenTtlSeconds?: number;
    /** More upstreams, declared after the standard ones (given the echo upstream's URL). */
    upstreams?: (echoUrl: string) => object[];
    /** Options of the embedded IdP beyond the access-token lifetime. */
    devIdp?: { introspection?: boolean };
  } = {},
): Promise<ProxyFixture> {
  const echo = await new EchoUpstream('renku').start();
  const statsEcho = await new EchoUpstream('stats').start();
  const apis = writeApisFile([
    {
      name: 'echo',
      url: `${echo.url}/base`,
      token: 'user',
      audience: 'renku',
      headers: { 'X-Api-Key': { env: 'ECHO_API_KEY' }, 'X-Static': 'static-value' },
    },
    { name: 'readonly', url: `${echo.url}/ro`, token: 'user', methods: ['GET'] },
    { name: 'open', url: `${echo.url}/open`, token: 'none' },
    { name: 'root', url: echo.url, token: 'none' },
    { name: 'down', url: `http://127.0.0.1:${closedPort}`, token: 'user' },
    { name: 'slow', url: `${echo.url}/slowbase`, token: 'user', timeoutMs: 300 },
    { name: 'stats', url: `${statsEcho.url}/stats`, token: 'user', audience: 'stats', resource: 'urn:gatehouse:stats' },
    { name: 'wrongaud', url: `${statsEcho.url}/wrong`, token: 'user', audience: 'stats' },
    { name: 'service', url: `${echo.url}/service`, token: 'client', audience: 'renku' },
    ...(options.upstreams?.(echo.url) ?? []),
  ]);
  const clock = new TestClock();
  const gatehouse = await startGatehouse(
    { GATEHOUSE_APIS: apis, ECHO_API_KEY: echoApiKey, ...options.env },
    {
      clock: clock.read,
      devIdp: {
        ...options.devIdp,
        ...(options.accessTokenTtlSeconds ? { accessTokenTtlSeconds: options.accessTokenTtlSeconds } : {}),
      },
    },
  );
  echo.issuer = gatehouse.issuer;
  statsEcho.issuer = gatehouse.issuer;
  const browser = new CookieBrowser();
  await signIn(gatehouse, browser);
  const rawSeen: RawResponse[] = [];

  return {
    gatehouse,
    clock,
    echo,
    statsEcho,
    browser,
    rawSeen,
    async call(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('x-csrf')) headers.set('x-csrf', '1');
      if (headers.get('x-csrf') === '') headers.delete('x-csrf');
      const { response, body } = await browser.navigate(`${gatehouse.url}${path}`, { ...init, headers });
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // not JSON
      }
      return { response, body, json };
    },
    async raw(method, path, headers = {}, body) {
      const url = new URL(gatehouse.url);
      const response = await new Promise<RawResponse>((resolve, reject) => {
        const request = http.request(
          {
            host: url.hostname,
            port: url.port,
            method,
            path,
            headers: { cookie: browser.cookieHeader(url), 'x-csrf': '1', ...headers },
            agent: false,
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
          },
        );
        request.on('error', reject);
        if (Array.isArray(body)) for (const chunk of body) request.write(chunk);
        else if (body !== undefined) request.write(body);
        request.end();
      });
      rawSeen.push(response);
      return response;
    },
    async stop() {
      await gatehouse.stop();
      await echo.stop();
      await statsEcho.stop();
    },
  };
}

/** The IdP's count of token-endpoint calls with this grant_type. */
export function tokenRequests(fixture: ProxyFixture, grantType: string): number {
  return fixture.gatehouse.gh.devIdp!.stats.tokenRequests[grantType] ?? 0;
}

/** Alice's one grant (the fixture signs in once). */
export async function aliceGrant(fixture: ProxyFixture) {
  const { grants } = fixture.gatehouse.gh.deps;
  const [id] = await grants.idsBySub('alice');
  return id === undefined ? undefined : grants.get(id);
}

/** Every token Gatehouse holds for alice's grants, plus every token an upstream received. */
export async function knownTokens(fixture: ProxyFixture): Promise<string[]> {
  const { grants } = fixture.gatehouse.gh.deps;
  const tokens = new Set([...fixture.echo.tokens, ...fixture.statsEcho.tokens]);
  for (const id of await grants.idsBySub('alice')) {
    const grant = await grants.get(id);
    if (!grant) continue;
    const set = grants.tokens(grant);
    for (const token of [set.accessToken, set.refreshToken, set.idToken]) if (token) tokens.add(token);
  }
  return [...tokens];
}
