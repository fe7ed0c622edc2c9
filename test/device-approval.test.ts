import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { withToken } from './helpers/api-tokens.ts';
import { CookieBrowser, signIn, TestClock } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

const clock = new TestClock();
const gatehouse = gatehouseForSuite({}, { clock: clock.read });
const day = 86_400_000;

/** `POST /auth/device/code` as a program does, from `forwardedFor` behind the trusted proxy when given. */
async function requestCode(fields: Record<string, string>, forwardedFor?: string): Promise<any> {
  const response = await fetch(`${gatehouse.url}/auth/device/code`, {
    method: 'POST',
    body: new URLSearchParams(fields),
    headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {},
  });
  assert.equal(response.status, 200);
  return response.json();
}

async function collect(deviceCode: string): Promise<string> {
  const response = await fetch(`${gatehouse.url}/auth/device/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode }),
  });
  const json = (await response.json()) as { access_token?: string };
  assert.ok(json.access_token, JSON.stringify(json));
  return json.access_token;
}

async function signedIn(username = 'alice', forwardedFor?: string): Promise<CookieBrowser> {
  const browser = new CookieBrowser(forwardedFor ? { forwardedFor } : {});
  await signIn(gatehouse, browser, username);
  return browser;
}

/** Opens `url` (the verification_uri_complete) and submits the Approve form as it stands, with `changes`. */
async function approve(browser: CookieBrowser, url: string, changes: Record<string, string> = {}): Promise<string> {
  const confirm = await browser.navigate(url);
  assert.equal(confirm.response.status, 200, confirm.body);
  const form = /<form method="post" action="\/device\/approve"[\s\S]*?<\/form>/.exec(confirm.body)![0];
  const done = await browser.submitForm(confirm.url, form, changes);
  assert.equal(done.response.status, 200, done.body);
  return confirm.body;
}

interface Listed {
  name: string;
  createdAt: string;
  expiresAt: string;
  upstreams: string[] | 'all';
  readOnly: boolean;
}

async function listed(browser: CookieBrowser, name: string): Promise<Listed> {
  const { tokens } = (await (await browser.request(`${gatehouse.url}/auth/tokens`)).json()) as { tokens: Listed[] };
  const token = tokens.find((t) => t.name === name);
  assert.ok(token, `token ${name} listed`);
  return token;
}

const lifetimeDays = (token: Listed): number => (Date.parse(token.expiresAt) - Date.parse(token.createdAt)) / day;

describe('device approvals are decided by the approver', () => {
  test('a request for 90 days, all APIs and read-write, approved with one click from its link, gets the defaults: 30 days, read-only', async () => {
    const asked = await requestCode({
      client_name: 'Gatehouse official CLI',
      token_name: 'phished',
      expires_in_days: '90',
    });
    const browser = await signedIn();
    const page = await approve(browser, asked.verification_uri_complete);
    assert.match(page, /calls itself “Gatehouse official CLI”/);
    assert.match(page, /id="device-asked">90 days, all APIs, read-write</);
    const secret = await collect(asked.device_code);

    const token = await listed(browser, 'phished');
    assert.equal(lifetimeDays(token), 30);
    assert.equal(token.readOnly, true);
    assert.deepEqual(token.upstreams, ['renku', 'dataverse']);
    const write = await withToken(`${gatehouse.url}/api/renku/projects`, secret, { method: 'POST', body: '{}' });
    assert.equal(write.status, 403);
    assert.equal(write.json.error, 'token_scope');
  });

  test('the approver may widen it on the page: 90 days, read-write, one API', async () => {
    const asked = await requestCode({ client_name: 'my laptop', token_name: 'widened', expires_in_days: '90' });
    const browser = await signedIn();
    await approve(browser, asked.verification_uri_complete, {
      expires_in_days: '90',
      access: 'read-write',
      upstreams: 'dataverse',
    });
    await collect(asked.device_code);
    const token = await listed(browser, 'widened');
    assert.equal(lifetimeDays(token), 90);
    assert.equal(token.readOnly, false);
    assert.deepEqual(token.upstreams, ['dataverse']);
  });

  test('a narrower request is preselected as it asks: 7 days, one API', async () => {
    const asked = await requestCode({
      token_name: 'narrow',
      expires_in_days: '7',
      upstreams: 'renku',
      read_only: 'true',
    });
    const browser = await signedIn();
    await approve(browser, asked.verification_uri_complete);
    await collect(asked.device_code);
    const token = await listed(browser, 'narrow');
    assert.equal(lifetimeDays(token), 7);
    assert.deepEqual([token.readOnly, token.upstreams], [true, ['renku']]);
  });

  test('an approval from the page with no API ticked is refused, and no token is made', async () => {
    const asked = await requestCode({ token_name: 'none ticked' });
    const browser = await signedIn();
    const confirm = await browser.navigate(asked.verification_uri_complete);
    const csrf = /name="csrf" value="([^"]+)"/.exec(confirm.body)![1]!;
    const refused = await browser.request(`${gatehouse.url}/device/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ csrf, user_code: asked.user_code, choices: '1' }).toString(),
    });
    assert.equal(refused.status, 400);
    const body = (await refused.json()) as { error: string; field: string };
    assert.deepEqual([body.error, body.field], ['invalid_request', 'upstreams']);
    const { tokens } = (await (await browser.request(`${gatehouse.url}/auth/tokens`)).json()) as {
      tokens: Array<{ name: string }>;
    };
    assert.equal(tokens.filter((t) => t.name === 'none ticked').length, 0);
  });

  test('the page warns plainly when the request came from another address than the approver’s', async () => {
    const far = await requestCode({ client_name: 'far away' }, '203.0.113.66');
    const near = await requestCode({ client_name: 'right here' }, '198.51.100.20');
    const browser = await signedIn('alice', '198.51.100.20');
    const farPage = await browser.navigate(far.verification_uri_complete);
    assert.match(farPage.body, /id="device-ip">203\.0\.113\.66</);
    assert.match(
      farPage.body,
      /id="device-address-warning"[^>]*>This request came from <strong>203\.0\.113\.66<\/strong>, and you are at <strong>198\.51\.100\.20<\/strong>/,
    );
    const nearPage = await browser.navigate(near.verification_uri_complete);
    assert.doesNotMatch(nearPage.body, /device-address-warning/);
  });
});

describe('wrong user codes on /device', () => {
  const wrongCode = (i: number): string => `BBBB-${'CDFGHJKLMNPQRSTVWXZ'[i % 19]}BBB`;

  test('are counted per user across sessions: the 6th in a minute is refused in another session too, even the right code', async () => {
    clock.advance(3_600_000 - (clock.now % 3_600_000) + 1_000); // a fresh hour, and so a fresh minute
    const asked = await requestCode({ client_name: 'guessed' });
    const first = await signedIn('bob', '198.51.100.31');
    for (let i = 0; i < 5; i++) {
      const wrong = await first.navigate(`${gatehouse.url}/device?user_code=${wrongCode(i)}`);
      assert.equal(wrong.response.status, 400, `guess ${i + 1}`);
    }
    // A second session of the same user, from another address: signing in again resets nothing.
    const second = await signedIn('bob', '198.51.100.32');
    const locked = await second.navigate(asked.verification_uri_complete);
    assert.equal(locked.response.status, 429);
    assert.equal(locked.response.headers.get('retry-after'), '59');
    // Another user is not locked by bob's guesses.
    const other = await signedIn('alice', '198.51.100.33');
    assert.equal((await other.navigate(asked.verification_uri_complete)).response.status, 200);
    clock.advance(60_000);
    assert.equal((await second.navigate(asked.verification_uri_complete)).response.status, 200, 'a minute later');
  });

  test('are counted per address: 20 in an hour from one address lock every user there, not elsewhere', async () => {
    clock.advance(3_600_000 - (clock.now % 3_600_000) + 1_000);
    const asked = await requestCode({ client_name: 'guessed from one place' });
    const address = '198.51.100.40';
    const guessers = [await signedIn('alice', address), await signedIn('bob', address)];
    for (let i = 0; i < 20; i++) {
      // Two users, a new minute every 4 guesses each: never over the per-user limit.
      if (i > 0 && i % 8 === 0) clock.advance(60_000);
      const wrong = await guessers[i % 2]!.navigate(`${gatehouse.url}/device?user_code=${wrongCode(i)}`);
      assert.equal(wrong.response.status, 400, `guess ${i + 1}`);
    }
    // A new minute: no user is over the per-user limit now, but the address is, for the hour.
    clock.advance(60_000);
    const again = await signedIn('alice', address);
    const locked = await again.navigate(asked.verification_uri_complete);
    assert.equal(locked.response.status, 429, 'even the right code');
    assert.ok(Number(locked.response.headers.get('retry-after')) > 60);
    const elsewhere = await signedIn('alice', '198.51.100.41');
    assert.equal((await elsewhere.navigate(asked.verification_uri_complete)).response.status, 200);
  });
});
