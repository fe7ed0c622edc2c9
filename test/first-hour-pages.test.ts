import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { CookieBrowser, signIn, startGatehouse } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

// Small things a new user trips over in the first hour, each said plainly.

describe('the pages a new user sees first', () => {
  const gatehouse = gatehouseForSuite({ GATEHOUSE_SESSION_IDLE: '1800', GATEHOUSE_SESSION_MAX: '28800' });

  test('the home page says the session ends after 30 min without activity, and when at the latest', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser);
    const home = (await browser.navigate(`${gatehouse.url}/`)).body;
    const ends = /<dd id="session-expires">([\s\S]*?)<\/dd>/.exec(home)?.[1] ?? '';
    assert.match(
      ends,
      /^after <span id="session-idle">30 min<\/span> without activity,\s+at the latest <time id="session-latest"/,
    );
    const latest = /datetime="([^"]+)">(\d{4}-\d\d-\d\d \d\d:\d\d UTC)<\/time>/.exec(ends);
    assert.ok(latest, ends);
    const hoursAhead = (Date.parse(latest[1]!) - Date.now()) / 3_600_000;
    assert.ok(hoursAhead > 7.9 && hoursAhead <= 8, `the 8 h limit, not the idle deadline (${hoursAhead} h)`);
    assert.equal(latest[2], `${latest[1]!.slice(0, 16).replace('T', ' ')} UTC`, 'readable without scripts');
  });

  test('the sign-in page explains the external login instead of offering it to everyone as a second button', async () => {
    const page = await (await fetch(`${gatehouse.url}/`)).text();
    assert.match(page, /id="external-sign-in-note">For LiveScore or Statistica users:/);
    assert.doesNotMatch(page, /class="button[^"]*" id="external-sign-in"/);
  });

  test("the Token created page shows the expiry readably, for the reader's time zone to replace", async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser);
    const { createApiToken } = await import('./helpers/api-tokens.ts');
    const { page } = await createApiToken(gatehouse, browser, { name: 'expiry' });
    assert.match(page, /Expires <time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/time>/);
    assert.match(page, /src="\/public\/js\/local-times.js"/);
  });
});

describe('a port held by another program', () => {
  /** A server holding a port of 127.0.0.1, as another program would. */
  async function holdPort(): Promise<{ server: Server; port: number }> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, resolve));
    return { server, port: (server.address() as AddressInfo).port };
  }

  test("the embedded IdP's: the error names the IdP and GATEHOUSE_DEV_IDP_PORT", async () => {
    const held = await holdPort();
    try {
      await assert.rejects(
        startGatehouse({ GATEHOUSE_DEV_IDP_PORT: String(held.port) }),
        new RegExp(
          `^Error: the embedded development IdP cannot listen on port ${held.port}: another program holds it .*set GATEHOUSE_DEV_IDP_PORT to a free port$`,
        ),
      );
    } finally {
      held.server.close();
    }
  });

  test("Gatehouse's own: the error names GATEHOUSE_PORT, and the IdP it had started is stopped again", async () => {
    const held = await holdPort();
    const idp = await holdPort(); // a port to give the IdP, freed just before the start
    await new Promise((resolve) => idp.server.close(resolve));
    try {
      await assert.rejects(
        startGatehouse({ GATEHOUSE_PORT: String(held.port), GATEHOUSE_DEV_IDP_PORT: String(idp.port) }),
        new RegExp(`^Error: Gatehouse cannot listen on port ${held.port}: .*set GATEHOUSE_PORT to a free port$`),
      );
      const again = createServer();
      await new Promise<void>((resolve, reject) => {
        again.once('error', reject);
        again.listen(idp.port, '127.0.0.1', resolve);
      });
      again.close();
    } finally {
      held.server.close();
    }
  });
});
