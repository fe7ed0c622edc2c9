// Gatehouse behind a real TLS-terminating reverse proxy, configured exactly as docs/deploy.md
// says: Debian's nginx and apache2, started here on loopback ports with a certificate from a CA
// this test makes, and Chromium trusting that CA through an NSS database (so TLS is verified, not
// ignored). The embedded IdP stays on plain http on 127.0.0.1; Gatehouse's public URL is the proxy's.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { type IncomingMessage, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from '@playwright/test';
import { writeApisFile } from '../test/helpers/apis-file.ts';
import { EchoUpstream } from '../test/helpers/echo-upstream.ts';
import { startGatehouse, type TestGatehouse } from '../test/helpers/harness.ts';
import { boundServer } from '../test/helpers/ports.ts';
import { makeTestCertificates, type TestCertificates } from '../test/helpers/test-certificates.ts';
import { type ProxyKind, type RunningProxy, startTlsProxy } from '../test/helpers/tls-proxies.ts';
import { expect, signInAtIdp, test } from './fixtures.ts';

/** The browser's address as Gatehouse must see it: the proxies listen on [::1] only, and reach Gatehouse from 127.0.0.1. */
const browserAddress = '::1';

for (const kind of ['nginx', 'apache'] as const satisfies readonly ProxyKind[]) {
  test.describe(`behind ${kind}, configured as docs/deploy.md says`, () => {
    // A real browser, IdP, proxy and Gatehouse on a busy 2-core machine: room to be slow.
    test.describe.configure({ timeout: 120_000 });
    let dir: string;
    let certificates: TestCertificates;
    let echo: EchoUpstream;
    let gatehouse: TestGatehouse;
    let proxy: RunningProxy;
    let browser: Browser;

    test.beforeAll(async ({ playwright, launchOptions }) => {
      dir = mkdtempSync(join(tmpdir(), `gatehouse-${kind}-`));
      certificates = makeTestCertificates(join(dir, 'certificates'));
      echo = await new EchoUpstream('renku').start();
      // Gatehouse's port first (the proxy's site names it), then the proxy's (Gatehouse's public URL names it).
      const bound = await boundServer();
      proxy = await startTlsProxy(kind, { gatehousePort: bound.port, certificates, dir: join(dir, kind) });
      gatehouse = await startGatehouse(
        {
          GATEHOUSE_PUBLIC_URL: proxy.publicUrl,
          // As docs/deploy.md sets it: the proxy connects from loopback.
          GATEHOUSE_TRUST_PROXY: 'loopback',
          GATEHOUSE_APIS: writeApisFile([{ name: 'echo', url: `${echo.url}/base`, token: 'user', audience: 'renku' }]),
        },
        { server: bound.server },
      );
      echo.issuer = gatehouse.issuer;
      // Chromium on Linux reads trust anchors from $HOME/.pki/nssdb: this one trusts the test CA only.
      browser = await playwright.chromium.launch({
        ...launchOptions,
        env: { ...process.env, HOME: certificates.browserHome },
      });
    });

    test.afterAll(async () => {
      await browser?.close();
      await gatehouse?.stop();
      await proxy?.stop();
      await echo?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('alice signs in over https, calls APIs (one streamed) with her address forwarded, and signs out', async () => {
      const page = await browser.newPage();
      const signInWithIdp = page.getByRole('link', { name: `Sign in with ${new URL(gatehouse.issuer).host}` });
      const callbacks: string[] = [];
      page.on('request', (request) => {
        if (new URL(request.url()).pathname === '/auth/callback') callbacks.push(request.url());
      });

      const first = await page.goto(`${proxy.publicUrl}/`);
      // Real TLS, verified against the test's CA.
      const tls = await first!.securityDetails();
      expect(tls?.issuer).toBe('Gatehouse test CA');
      expect(tls?.protocol).toMatch(/^TLS 1\.[23]$/);
      // HSTS, once: Gatehouse sends it, the proxy adds none.
      const hsts = (await first!.headersArray()).filter((h) => h.name.toLowerCase() === 'strict-transport-security');
      expect(hsts).toHaveLength(1);
      expect(hsts[0]!.value).toMatch(/max-age=\d{7,}/);

      await signInWithIdp.click();
      await expect(page).toHaveURL(new RegExp(`^${gatehouse.issuer}/interaction/`));
      await signInAtIdp(page, 'alice');
      await expect(page).toHaveURL(`${proxy.publicUrl}/`);
      await expect(page.locator('#user-name')).toHaveText('Alice Liddell');
      // The IdP sent the browser back to the https redirect URI, built from the public URL.
      expect(callbacks).toHaveLength(1);
      expect(callbacks[0]).toMatch(new RegExp(`^${proxy.publicUrl}/auth/callback\\?`));

      const session = (await page.context().cookies(proxy.publicUrl)).find((c) => c.name === '__Host-gatehouse');
      expect(session, 'the __Host- session cookie').toBeDefined();
      expect(session).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Lax', path: '/', domain: 'localhost' });
      expect((await page.context().cookies(proxy.publicUrl)).map((c) => c.name)).not.toContain('gatehouse');

      // An API call from the page, with an X-Forwarded-For of its own that must not get through.
      const answer = await page.evaluate(async () => {
        const response = await fetch('/api/echo/datasets?page=1', {
          headers: { 'X-CSRF': '1', 'X-Forwarded-For': '203.0.113.7' },
        });
        return { status: response.status, body: await response.text() };
      });
      expect(answer.status, answer.body).toBe(200);
      const seen = echo.requests.at(-1)!;
      expect(seen.url).toBe('/base/datasets?page=1');
      expect(seen.claims?.sub).toBe('alice');
      expect(seen.headers['x-forwarded-for'], "the browser's address, not the proxy's").toBe(browserAddress);
      expect(seen.headers['x-forwarded-proto']).toBe('https');
      // A streamed answer reaches the page as it comes: its first chunk while the upstream still
      // holds the rest (a buffering proxy would hold the chunk back until the end).
      const firstChunk = await page.evaluate(async () => {
        const response = await fetch('/api/echo/drip', { headers: { 'X-CSRF': '1' } });
        const reader = response.body!.getReader();
        (window as unknown as { drip: typeof reader }).drip = reader;
        return new TextDecoder().decode((await reader.read()).value);
      });
      expect(firstChunk).toBe('first-chunk\n');
      echo.releaseDrip();
      expect(
        await page.evaluate(async () => {
          const reader = (window as unknown as { drip: ReadableStreamDefaultReader<Uint8Array> }).drip;
          let rest = '';
          for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
            rest += new TextDecoder().decode(chunk.value);
          return rest;
        }),
      ).toBe('rest\n');

      // The documented configuration sends X-Forwarded-Proto: no warning about it.
      expect(gatehouse.logs.filter((line) => line.includes('without X-Forwarded-Proto'))).toEqual([]);

      await page.getByRole('button', { name: 'Sign out' }).click();
      // Sign-out ends on its own page, with a clean https URL (issue 21), and leads back to sign-in.
      await expect(page).toHaveURL(`${proxy.publicUrl}/auth/signed-out`);
      await expect(page.locator('#signed-out')).toBeVisible();
      await page.getByRole('link', { name: 'Sign in again' }).click();
      await expect(signInWithIdp).toBeVisible();
      // (From the page: Playwright's own request client would try 127.0.0.1, where the proxy does not listen.)
      expect(await page.evaluate(async () => (await fetch('/auth/user')).status)).toBe(401);
      expect((await page.context().cookies(proxy.publicUrl)).map((c) => c.name)).not.toContain('__Host-gatehouse');
      await page.close();
    });

    test('plain http on the proxy only redirects to https', async () => {
      const response = await plainHttp(proxy.httpPort, '/auth/login?returnTo=%2F');
      expect(response.statusCode).toBe(301);
      // The doc's redirect names the standard port; the test's https port is another.
      expect(response.headers.location).toBe('https://localhost/auth/login?returnTo=%2F');
    });

    test('a WebSocket upgrade to /api passes through the proxy to Gatehouse, both ways', async () => {
      const probe = upgradeProbe(gatehouse.gh.server, '/api/echo/socket');
      try {
        const { response, socket } = await upgradeThrough(proxy, certificates, '/api/echo/socket');
        expect(response.statusCode).toBe(101);
        socket.write('ping');
        expect(await firstChunk(socket)).toBe('PING');
        socket.destroy();
        expect(probe.seen?.headers.upgrade).toBe('websocket');
        expect(probe.seen?.headers.connection).toMatch(/upgrade/i);
        expect(probe.seen?.headers['x-forwarded-proto']).toBe('https');
      } finally {
        probe.remove();
      }
    });

    // Last: it replaces the documented proxy with a broken one.
    test('without the X-Forwarded-Proto line, sign-in does not stick, and Gatehouse logs one warning naming the header', async () => {
      await proxy.stop();
      proxy = await startTlsProxy(kind, {
        gatehousePort: gatehouseListeningPort(gatehouse),
        certificates,
        dir: join(dir, `${kind}-without-proto`),
        ports: { httpsPort: proxy.httpsPort, httpPort: proxy.httpPort },
        edit: (site) => {
          expect(site).toContain(forwardedProtoLine[kind]);
          return site.replace(forwardedProtoLine[kind], '');
        },
      });
      const page = await browser.newPage();
      await page.goto(`${proxy.publicUrl}/auth/login?returnTo=%2F`);
      await signInAtIdp(page, 'alice');
      // The callback succeeds at the IdP's end, but the Secure cookie was not set on "plain http".
      await expect(page).toHaveURL(`${proxy.publicUrl}/`);
      await expect(page.getByRole('link', { name: `Sign in with ${new URL(gatehouse.issuer).host}` })).toBeVisible();
      expect((await page.context().cookies(proxy.publicUrl)).map((c) => c.name)).not.toContain('__Host-gatehouse');

      const warnings = gatehouse.logs
        .map((line) => JSON.parse(line) as Record<string, string>)
        .filter((entry) => entry.msg?.includes('without X-Forwarded-Proto'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 'warn', peer: '127.0.0.1', received: '(none)' });
      await page.close();
    });
  });
}

/** The port Gatehouse's own server listens on (its public URL names the proxy's). */
function gatehouseListeningPort(gatehouse: TestGatehouse): number {
  return (gatehouse.gh.server.address() as AddressInfo).port;
}

/** The line of each documented site that sends X-Forwarded-Proto. */
const forwardedProtoLine: Record<ProxyKind, string> = {
  nginx: 'proxy_set_header X-Forwarded-Proto $scheme;',
  apache: 'RequestHeader set X-Forwarded-Proto "https"',
};

/**
 * Stands in for the WebSocket handler of `/api` on Gatehouse's server, for `path` only: answers
 * 101 and echoes what it gets in capitals. Other upgrades go to the listeners already there.
 */
function upgradeProbe(server: Server, path: string) {
  type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  const others = server.listeners('upgrade') as UpgradeListener[];
  const sockets = new Set<Duplex>();
  const probe: { seen?: IncomingMessage; remove(): void } = {
    remove() {
      for (const socket of sockets) socket.destroy(); // or Gatehouse's stop would wait for them
      server.off('upgrade', listener);
      for (const other of others) server.on('upgrade', other);
    },
  };
  const listener: UpgradeListener = (req, socket, head) => {
    if (req.url !== path) {
      for (const other of others) other(req, socket, head);
      return;
    }
    probe.seen = req;
    sockets.add(socket);
    socket.on('error', () => {}); // the proxy closing its side is not this test's concern
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (chunk: Buffer) => socket.write(chunk.toString('utf8').toUpperCase()));
  };
  server.removeAllListeners('upgrade');
  server.on('upgrade', listener);
  return probe;
}

/** An HTTP/1.1 upgrade request to the proxy over TLS, trusting the test CA only. */
function upgradeThrough(proxy: RunningProxy, certificates: TestCertificates, path: string) {
  return new Promise<{ response: IncomingMessage; socket: Duplex }>((resolve, reject) => {
    const req = httpsRequest({
      host: '::1',
      servername: 'localhost',
      port: proxy.httpsPort,
      path,
      ca: readFileSync(certificates.caFile),
      headers: {
        host: `localhost:${proxy.httpsPort}`,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    req.on('upgrade', (response, socket) => resolve({ response, socket }));
    req.on('response', (response) => reject(new Error(`no upgrade: ${response.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/** A plain-http GET to the proxy on [::1] for host `localhost`, as a browser would send it. */
function plainHttp(port: number, path: string) {
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest({ host: '::1', port, path, headers: { host: `localhost:${port}` } }, (response) => {
      response.resume();
      resolve(response);
    });
    req.on('error', reject);
    req.end();
  });
}

function firstChunk(socket: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString('utf8')));
    socket.once('error', reject);
  });
}
