import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { startDevIdp } from '../server/dev/dev-idp.ts';
import { CookieBrowser, signIn, startGatehouse, TestClock } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';
import { eventually } from './helpers/eventually.ts';
import { bindSparePort, sparePort } from './helpers/ports.ts';

describe('health, readiness, request ids and logs', () => {
  const gatehouse = gatehouseForSuite();

  test('/healthz answers 200 and /readyz answers 200 once the store and the IdP are ready', async () => {
    assert.equal((await fetch(`${gatehouse.url}/healthz`)).status, 200);
    const ready = await fetch(`${gatehouse.url}/readyz`);
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as { status: string; version: string; uptimeSeconds: number };
    assert.deepEqual(Object.keys(body).sort(), ['status', 'uptimeSeconds', 'version'], 'nothing else: it is public');
    assert.equal(body.status, 'ready');
    assert.equal(body.version, JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version);
    assert.ok(Number.isInteger(body.uptimeSeconds) && body.uptimeSeconds >= 0, String(body.uptimeSeconds));
  });

  test('every response carries an X-Request-Id, errors included', async () => {
    for (const path of ['/', '/healthz', '/auth/user', '/no/such/page', '/auth/callback']) {
      const response = await fetch(`${gatehouse.url}${path}`, { redirect: 'manual' });
      assert.match(response.headers.get('x-request-id') ?? '', /^[\w.-]{8,}$/, path);
    }
  });

  test('a safe incoming X-Request-Id is kept and an unsafe one is replaced', async () => {
    const kept = await fetch(`${gatehouse.url}/healthz`, { headers: { 'x-request-id': 'trace-1234abcd' } });
    assert.equal(kept.headers.get('x-request-id'), 'trace-1234abcd');
    const replaced = await fetch(`${gatehouse.url}/healthz`, { headers: { 'x-request-id': 'x" onload="alert(1)' } });
    assert.notEqual(replaced.headers.get('x-request-id'), 'x" onload="alert(1)');
  });

  test('one JSON log line per request, with method, path, status, duration and request id, without the query', async () => {
    const before = gatehouse.logs.length;
    const response = await fetch(`${gatehouse.url}/auth/callback?code=secret-code&state=secret-state`);
    const requestId = response.headers.get('x-request-id');
    const lines = gatehouse.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = lines.find((l) => l.msg === 'request' && l.requestId === requestId);
    assert.ok(line, 'a request log line');
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/auth/callback');
    assert.equal(line.status, 400);
    assert.equal(typeof line.durationMs, 'number');
    assert.ok(!gatehouse.logs.some((l) => l.includes('secret-code') || l.includes('secret-state')));
  });

  test('a refused request is logged with its error code, which the log does not mistake for a secret', async () => {
    const refused = await fetch(`${gatehouse.url}/auth/callback?state=nope`, {
      headers: { 'x-request-id': 'trace-refused-1' },
    });
    assert.equal(refused.status, 400);
    const line = gatehouse.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.requestId === 'trace-refused-1' && l.msg === 'request refused');
    assert.equal(line?.errorCode, 'unknown_state');
    assert.equal(line?.status, 400);
  });

  test('no cookie, code or token in any log line after a full sign-in and sign-out', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser);
    const cookie = browser.cookie('localhost', 'gatehouse')!;
    const grantId = (await gatehouse.gh.deps.grants.idsBySub('alice')).at(-1)!;
    const tokens = gatehouse.gh.deps.grants.tokens((await gatehouse.gh.deps.grants.get(grantId))!);
    await browser.request(`${gatehouse.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } });
    const codes = browser.seen.map((s) => new URL(s.url).searchParams.get('code')).filter(Boolean) as string[];
    for (const secret of [
      cookie,
      tokens.accessToken,
      tokens.refreshToken!,
      tokens.idToken!,
      gatehouse.gh.config.session.secret,
      gatehouse.gh.config.oidc.clientSecret!,
      ...codes,
    ]) {
      assert.ok(!gatehouse.logs.some((l) => l.includes(secret)), 'a secret reached the log');
    }
    assert.ok(!gatehouse.logs.some((l) => /eyJ[\w-]+\.[\w-]+\./.test(l)), 'no JWT in the log');
  });

  test('an unknown page is a 404 HTML page with a code and request id, and no stack trace', async () => {
    const response = await fetch(`${gatehouse.url}/no/such/page`, { headers: { accept: 'text/html' } });
    assert.equal(response.status, 404);
    const body = await response.text();
    assert.match(body, /not_found/);
    assert.match(body, new RegExp(response.headers.get('x-request-id')!));
    assert.doesNotMatch(body, /at .*\.ts:\d+|node_modules/);
  });

  test('pages are served with a strict CSP that still lets sign-out reach the IdP', async () => {
    const response = await fetch(`${gatehouse.url}/`);
    const csp = response.headers.get('content-security-policy')!;
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.match(csp, new RegExp(`form-action 'self' ${gatehouse.issuer.replace(/\./g, '\\.')}`));
    assert.match(await response.text(), /href="\/auth\/login"/);
  });
});

describe('an IdP that is down at start', () => {
  test('Gatehouse starts anyway, answers 503 until discovery succeeds, then signs in', async () => {
    // Down at first, so not bound: a spare port, which no port-0 bind takes meanwhile.
    const [idpPort, clientSecret] = [sparePort(), 'a-client-secret-for-the-late-idp'];
    const gatehouse = await startGatehouse(
      {
        GATEHOUSE_OIDC_ISSUER: `http://127.0.0.1:${idpPort}`,
        GATEHOUSE_OIDC_CLIENT_SECRET: clientSecret,
      },
      { discoveryRetryMs: 50 },
    );
    let idp: Awaited<ReturnType<typeof startDevIdp>> | undefined;
    try {
      const notReady = await fetch(`${gatehouse.url}/readyz`);
      assert.equal(notReady.status, 503);
      assert.match(JSON.stringify(await notReady.json()), /identity provider/);
      const login = await fetch(`${gatehouse.url}/auth/login`, {
        headers: { accept: 'text/html' },
        redirect: 'manual',
      });
      assert.equal(login.status, 503);
      const page = await login.text();
      assert.match(page, /idp_unavailable/);
      assert.match(page, /identity provider is unreachable/);

      idp = await startDevIdp({
        port: idpPort,
        client: {
          clientId: 'gatehouse',
          clientSecret,
          redirectUris: [`${gatehouse.url}/auth/callback`],
          postLogoutRedirectUris: [`${gatehouse.url}/`],
        },
      });
      // Discovery retries with backoff from 50 ms; bounded wait, no fixed sleep.
      await eventually(
        async () => (await fetch(`${gatehouse.url}/readyz`)).status === 200,
        'Gatehouse discovered the IdP',
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      const home = await signIn(gatehouse, new CookieBrowser());
      assert.match(home.body, /Alice Liddell/);
    } finally {
      await gatehouse.stop();
      await idp?.close();
    }
  });

  test('a token endpoint that fails mid-sign-in gives a 503 page and no session', async () => {
    const gatehouse = await startGatehouse();
    try {
      const browser = new CookieBrowser();
      const loginPage = await browser.navigate(`${gatehouse.url}/auth/login`);
      const { callbackUrlFor } = await import('./helpers/harness.ts');
      const callback = await callbackUrlFor(gatehouse, browser, 'alice', loginPage.url);
      await gatehouse.gh.devIdp!.close(); // the IdP goes away before the code is exchanged
      const page = await browser.navigate(callback);
      assert.equal(page.response.status, 503);
      assert.match(page.body, /idp_unavailable/);
      assert.equal(browser.cookie('localhost', 'gatehouse'), undefined);
    } finally {
      await gatehouse.stop();
    }
  });
});

describe('an IdP that goes down after start', () => {
  test("/readyz turns 503 naming the IdP's key set at its next check (at most every 30 s), and ready again once the IdP is back", async () => {
    const clock = new TestClock();
    const clientSecret = 'a-client-secret-for-the-flaky-idp';
    const startIdp = (port: number) =>
      startDevIdp({
        port,
        client: {
          clientId: 'gatehouse',
          clientSecret,
          redirectUris: ['http://localhost:9/auth/callback'],
          postLogoutRedirectUris: [],
        },
      });
    // It comes back on the same port: a spare one, which no port-0 bind takes while it is down.
    const { port: idpPort, bound } = await bindSparePort(startIdp);
    let idp: Awaited<ReturnType<typeof startDevIdp>> | undefined = bound;
    const gatehouse = await startGatehouse(
      {
        GATEHOUSE_OIDC_ISSUER: `http://127.0.0.1:${idpPort}`,
        GATEHOUSE_OIDC_CLIENT_SECRET: clientSecret,
      },
      { clock: clock.read },
    );
    const readyz = async (): Promise<{ status: number; body: { status: string; reasons?: string[] } }> => {
      const response = await fetch(`${gatehouse.url}/readyz`);
      // Without version and uptime, which the first test of this file checks.
      const { status, reasons } = (await response.json()) as { status: string; reasons?: string[] };
      return { status: response.status, body: reasons ? { status, reasons } : { status } };
    };
    try {
      assert.deepEqual(await readyz(), { status: 200, body: { status: 'ready' } });

      await idp.close();
      idp = undefined;
      assert.equal((await readyz()).status, 200, 'within 30 s of the last check the answer is the cached one');
      clock.advance(30_000);
      const down = await readyz();
      assert.equal(down.status, 503);
      assert.equal(down.body.status, 'unavailable');
      assert.deepEqual(down.body.reasons, [
        'identity provider unreachable: its key set (jwks_uri) could not be fetched (ECONNREFUSED)',
      ]);
      assert.ok(
        gatehouse.logs.some((line) => line.includes('"msg":"identity provider not ready"')),
        'the change is logged',
      );

      idp = await startIdp(idpPort);
      assert.equal((await readyz()).status, 503, 'the failure is cached too: a down IdP is not asked on every probe');
      clock.advance(30_000);
      assert.deepEqual(await readyz(), { status: 200, body: { status: 'ready' } });
    } finally {
      await gatehouse.stop();
      await idp?.close();
    }
  });
});

describe('process lifecycle', () => {
  test('on GATEHOUSE_PORT=0 the public URL and the redirect URIs name the port Gatehouse bound, and sign-in works', async () => {
    const gatehouse = await startGatehouse({ GATEHOUSE_PORT: '0' }); // and no GATEHOUSE_PUBLIC_URL
    try {
      const port = Number(new URL(gatehouse.url).port);
      assert.ok(port > 0, gatehouse.url);
      assert.equal(gatehouse.gh.config.publicUrl, `http://localhost:${port}`);
      const login = await fetch(`${gatehouse.url}/auth/login`, { redirect: 'manual' });
      assert.equal(
        new URL(login.headers.get('location')!).searchParams.get('redirect_uri'),
        `http://localhost:${port}/auth/callback`,
      );
      const browser = new CookieBrowser();
      await signIn(gatehouse, browser);
      assert.equal((await browser.request(`${gatehouse.url}/auth/user`)).status, 200);
    } finally {
      await gatehouse.stop();
    }
  });

  test('npm start with only GATEHOUSE_PORT prints the banner with that port, and SIGTERM closes the server and exits 0', async () => {
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    // The banner must show the port asked for, so not 0: a spare one. The IdP takes port 0.
    const port = sparePort();
    const child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('../server/main.ts', import.meta.url))],
      {
        // No GATEHOUSE_PUBLIC_URL: the banner's address follows GATEHOUSE_PORT.
        env: {
          PATH: process.env.PATH,
          GATEHOUSE_PORT: String(port),
          GATEHOUSE_DEV_IDP_PORT: '0',
          GATEHOUSE_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await eventually(
        () => output.includes('demo users') || assert.fail(`no banner yet; got: ${output}`),
        'the banner',
        { timeoutMs: 20_000, intervalMs: 50 },
      );
      assert.match(output, new RegExp(`Gatehouse is listening on http://localhost:${port}`));
      assert.match(output, /identity provider: http:\/\/127\.0\.0\.1:\d+ /);
      assert.match(output, /alice \/ alice-dev-password/);
      assert.match(output, /trusted proxies \(GATEHOUSE_TRUST_PROXY\): loopback\n/);
      assert.equal((await fetch(`http://localhost:${port}/healthz`)).status, 200);
    } catch (error) {
      child.kill('SIGKILL'); // a failed check must not leave the server running
      throw error;
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    await assert.rejects(fetch(`http://localhost:${port}/healthz`));
  });

  test('stop finishes although a client holds a connection with a request it never completes', {
    timeout: 20_000,
  }, async () => {
    const { connect } = await import('node:net');
    const gatehouse = await startGatehouse();
    const socket = connect(Number(new URL(gatehouse.url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n'); // headers never finished
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await gatehouse.stop();
    await closed;
  });
});
