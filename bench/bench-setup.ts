// The processes and callers both benchmarks use (`npm run bench`, bench/call-instructions.ts):
// an echo upstream, a bare pass-through proxy, the embedded IdP and Gatehouse, each in its own
// process; then one caller of each kind, signed in for real, all calling the same upstream path.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { devUsers } from '../server/dev/dev-idp.ts';
import { createApiToken } from '../test/helpers/api-tokens.ts';
import { writeApisFile } from '../test/helpers/apis-file.ts';
import { CookieBrowser } from '../test/helpers/cookie-browser.ts';
import { callbackUrlFor } from '../test/helpers/harness.ts';
import { sparePort } from '../test/helpers/ports.ts';
import { callSoap, decodeBase64, text } from '../test/helpers/soap.ts';
import { payload } from './bench-payload.ts';

const serversFile = fileURLToPath(new URL('./bench-servers.ts', import.meta.url));

/** One request the load generator repeats. */
export interface Target {
  url: string;
  headers: Record<string, string>;
}

/** How a server process is started: node's flags, and a program to run node under (valgrind). */
export interface LaunchOptions {
  execArgv?: string[];
  /** e.g. `['valgrind', '--tool=callgrind', …]`: node runs as this command's last argument. */
  wrapper?: string[];
}

export interface Ready<T> {
  child: ChildProcess;
  ready: T;
}

/** The running bench: its processes, and one target per kind of caller. */
export interface BenchSetup {
  publicUrl: string;
  upstream: Ready<number>;
  bare: Ready<number>;
  gatehouse: Ready<string>;
  /** The signed-in browser's `Cookie` header (for the WebSocket figure). */
  browserCookie: string;
  /** `bare`, `gatehouse cookie`, `gatehouse soap`, `gatehouse api-token`. */
  targets: Array<[caller: string, target: Target]>;
  stop(): void;
}

/** Starts the four processes and signs one caller of each kind in; each is checked to reach the upstream. */
export async function startBench(options: {
  logLevel: string;
  /** The IdP's access-token lifetime in seconds (its default: 300). */
  accessTokenTtl?: number;
  gatehouse?: LaunchOptions;
  bare?: LaunchOptions;
}): Promise<BenchSetup> {
  const children: ChildProcess[] = [];
  const launch = <T>(role: string, args: string[], how: LaunchOptions = {}): Promise<Ready<T>> => {
    // stdout (Gatehouse's JSON log lines) goes to /dev/null: written, as in production, but not shown.
    const [program, ...wrapperArgs] = how.wrapper ?? [];
    const child = fork(serversFile, [role, ...args], {
      ...(program ? { execPath: program } : {}),
      execArgv: [...wrapperArgs, ...(program ? [process.execPath] : []), '--import', 'tsx', ...(how.execArgv ?? [])],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    children.push(child);
    return new Promise((resolve, reject) => {
      child.once('message', (message: { ready: T }) => resolve({ child, ready: message.ready }));
      child.once('exit', (code) => reject(new Error(`the ${role} process exited (${code})`)));
    });
  };
  const stop = (): void => {
    for (const child of children) child.kill();
  };
  try {
    const upstream = await launch<number>('upstream', []);
    const bare = await launch<number>('bare', [String(upstream.ready)], options.bare);
    // The IdP must know Gatehouse's URL before Gatehouse runs; the IdP itself takes port 0.
    const [gatehousePort, idpPort] = [sparePort(), 0];
    const publicUrl = `http://localhost:${gatehousePort}`;
    const clientSecret = randomBytes(24).toString('base64url');
    const idp = await launch<string>('idp', [
      String(idpPort),
      publicUrl,
      clientSecret,
      ...(options.accessTokenTtl ? [String(options.accessTokenTtl)] : []),
    ]);
    const apis = writeApisFile([
      { name: 'echo', url: `http://127.0.0.1:${upstream.ready}`, token: 'user', audience: 'renku' },
      { name: 'live', url: `http://127.0.0.1:${upstream.ready}`, token: 'user', audience: 'renku', websocket: true },
    ]);
    const gatehouse = await launch<string>(
      'gatehouse',
      [
        JSON.stringify({
          NODE_ENV: 'bench',
          GATEHOUSE_PORT: String(gatehousePort),
          GATEHOUSE_PUBLIC_URL: publicUrl,
          GATEHOUSE_OIDC_ISSUER: idp.ready,
          GATEHOUSE_OIDC_CLIENT_SECRET: clientSecret,
          GATEHOUSE_SESSION_SECRET: randomBytes(48).toString('base64url'),
          GATEHOUSE_APIS: apis,
          GATEHOUSE_LOG_LEVEL: options.logLevel,
          // Thousands of sign-ins from one address for the memory figure: the per-address limit on
          // sign-in starts would refuse them, and it is not what this benchmark measures.
          GATEHOUSE_RATE_LIMIT_LOGIN: 'off',
          GATEHOUSE_RATE_LIMIT_LOGIN_GLOBAL: 'off',
        }),
      ],
      options.gatehouse,
    );

    // Gatehouse discovers the IdP in the background: under valgrind that can take minutes.
    await untilReady(publicUrl);
    // One caller of each kind, each signed in for real; all GET the same upstream path.
    const browser = await signIn(publicUrl, 'alice');
    const identityToken = await soapIdentityToken(publicUrl, 'alice');
    const { secret: apiToken } = await createApiToken({ url: publicUrl }, await signIn(publicUrl, 'alice'), {
      name: 'bench',
    });
    const browserCookie = browser.cookieHeader(new URL(publicUrl));
    const gatehouseUrl = `${publicUrl}/api/echo/datasets/42`;
    const targets: Array<[caller: string, target: Target]> = [
      ['bare', { url: `http://127.0.0.1:${bare.ready}/datasets/42`, headers: {} }],
      ['gatehouse cookie', { url: gatehouseUrl, headers: { cookie: browserCookie, 'x-csrf': '1' } }],
      ['gatehouse soap', { url: gatehouseUrl, headers: { authorization: `Bearer ${identityToken}` } }],
      ['gatehouse api-token', { url: gatehouseUrl, headers: { authorization: `Bearer ${apiToken}` } }],
    ];
    // A refused caller would be measured at the speed of its 401: each must reach the upstream.
    for (const [caller, target] of targets) {
      const response = await fetch(target.url, { headers: target.headers });
      const body = await response.text();
      if (response.status !== 200 || body !== payload)
        throw new Error(`${caller}: ${target.url} answered ${response.status}: ${body.slice(0, 200)}`);
    }
    return { publicUrl, upstream, bare, gatehouse, browserCookie, targets, stop };
  } catch (error) {
    stop();
    throw error;
  }
}

/** Waits (up to 10 minutes) until Gatehouse's /readyz says the store and the IdP are reachable. */
async function untilReady(publicUrl: string): Promise<void> {
  for (let waited = 0; waited < 600; waited++) {
    const ready = await fetch(`${publicUrl}/readyz`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error('Gatehouse did not become ready within 10 minutes');
}

/** A browser sign-in through the IdP's login form; the browser keeps the session cookie. */
export async function signIn(publicUrl: string, username: string): Promise<CookieBrowser> {
  const user = devUsers.find((u) => u.username === username)!;
  const browser = new CookieBrowser();
  const page = await browser.navigate(`${publicUrl}/auth/login`);
  const done = await browser.submitForm(page.url, page.body, { username, password: user.password });
  if (!done.url.startsWith(publicUrl) || done.response.status !== 200)
    throw new Error(`sign-in ended at ${done.url} (${done.response.status})`);
  return browser;
}

/**
 * A LiveScore client's sign-in, as seed 002 describes it: GetExternalLoginRedirectURL, the user
 * signs in at the IdP in a browser, the client takes `code` and `state` from the redirect to
 * /external/callback and calls ExternalLogin, which answers the IdentityToken.
 */
async function soapIdentityToken(publicUrl: string, username: string): Promise<string> {
  const redirect = await callSoap(publicUrl, 'GetExternalLoginRedirectURL', [
    ['RequestURL', `${publicUrl}/external/callback`],
  ]);
  if (redirect.status !== 200)
    throw new Error(`GetExternalLoginRedirectURL answered ${redirect.status}: ${redirect.body.slice(0, 400)}`);
  const back = new URL(
    await callbackUrlFor(
      { url: publicUrl },
      new CookieBrowser(),
      username,
      decodeBase64(text(redirect.body, 'RedirectURL')),
      '/external/callback',
    ),
  );
  const signedIn = await callSoap(publicUrl, 'ExternalLogin', [
    ['Code', back.searchParams.get('code') ?? ''],
    ['State', back.searchParams.get('state') ?? ''],
    ['ContextID', text(redirect.body, 'ContextID')],
  ]);
  if (signedIn.status !== 200)
    throw new Error(`ExternalLogin answered ${signedIn.status}: ${signedIn.body.slice(0, 400)}`);
  return text(signedIn.body, 'IdentityToken');
}
