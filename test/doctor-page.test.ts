import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DoctorReport } from '../server/doctor/check-result.ts';
import { writeApisFile } from './helpers/apis-file.ts';
import { CookieBrowser, signIn, TestClock } from './helpers/harness.ts';
import { closedPort } from './helpers/ports.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

// The embedded IdP's default access token carries aud renku, dataverse and account (as a
// Keycloak client with those Audience mappers would); a token for resource urn:gatehouse:stats
// carries stats. Nothing listens at the upstreams: the page checks tokens, it calls no API.
const nowhere = `http://127.0.0.1:${closedPort}`;
const apis = writeApisFile([
  { name: 'renku', url: `${nowhere}/renku`, token: 'user', audience: 'renku' },
  { name: 'stats', url: `${nowhere}/stats`, token: 'user', audience: 'stats', resource: 'urn:gatehouse:stats' },
  { name: 'wrongaud', url: `${nowhere}/wrong`, token: 'user', audience: 'stats' },
  { name: 'loose', url: `${nowhere}/loose`, token: 'user' },
  { name: 'open', url: `${nowhere}/open`, token: 'none' },
]);

describe('GET /auth/doctor', () => {
  const gatehouse = gatehouseForSuite({ GATEHOUSE_APIS: apis });

  test('anonymous: JSON gets 401 unauthenticated and a page request is sent to sign-in and back', async () => {
    const json = await fetch(`${gatehouse.url}/auth/doctor`, { headers: { accept: 'application/json' } });
    assert.equal(json.status, 401);
    assert.equal(((await json.json()) as { error: string }).error, 'unauthenticated');
    const page = await fetch(`${gatehouse.url}/auth/doctor`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    assert.equal(page.status, 302);
    assert.equal(page.headers.get('location'), '/auth/login?returnTo=%2Fauth%2Fdoctor');
  });

  test("a user whose token lacks an upstream's audience gets ✗ on that line, naming the Keycloak Audience mapper", async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser);
    const response = await browser.request(`${gatehouse.url}/auth/doctor`, { headers: { accept: 'application/json' } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const body = await response.text();
    const report = JSON.parse(body) as DoctorReport;
    const byId = Object.fromEntries(report.checks.map((check) => [check.id, check]));
    assert.deepEqual(Object.keys(byId), ['audience:renku', 'audience:stats', 'audience:wrongaud', 'audience:loose']);
    assert.equal(byId['audience:renku']!.status, 'ok');
    assert.equal(byId['audience:stats']!.status, 'ok', 'the token for its resource carries stats');
    const missing = byId['audience:wrongaud']!;
    assert.equal(missing.status, 'fail');
    assert.match(missing.detail, /lacks "stats" \(it carries "renku", "dataverse", "account"\)/);
    assert.match(
      missing.fix ?? '',
      /Clients → gatehouse → Client scopes → gatehouse-dedicated → Add mapper → By configuration → Audience, with Included Client Audience = stats/,
    );
    assert.equal(byId['audience:loose']!.status, 'warn');
    assert.equal(report.status, 'fail');

    // The page reports audiences, never the token it checked.
    const { grants } = gatehouse.gh.deps;
    const [grantId] = await grants.idsBySub('alice');
    const tokens = grants.tokens((await grants.get(grantId!))!);
    for (const token of [tokens.accessToken, tokens.refreshToken, tokens.idToken].filter(Boolean) as string[]) {
      assert.ok(!body.includes(token), 'no token in the answer');
      assert.ok(!gatehouse.logs.some((line) => line.includes(token)), 'no token in a log line');
    }
  });

  test('the page lists the same lines with their marks and fixes', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser, 'bob');
    const page = await browser.navigate(`${gatehouse.url}/auth/doctor`);
    assert.equal(page.response.status, 200);
    assert.match(page.body, /data-check-id="audience:wrongaud" data-status="fail"/);
    assert.match(page.body, /✗ audience for wrongaud/);
    assert.match(page.body, /Included Client Audience = stats/);
    assert.match(page.body, /✓ audience for renku/);
  });
});

describe('GET /auth/doctor is limited per user', () => {
  const clock = new TestClock();
  const gatehouse = gatehouseForSuite({ GATEHOUSE_APIS: apis }, { clock: clock.read });
  const doctor = (browser: CookieBrowser) =>
    browser.request(`${gatehouse.url}/auth/doctor`, { headers: { accept: 'application/json' } });

  test('10 runs a minute per user across sessions, then 429 with Retry-After; another user is not limited', async () => {
    clock.advance(60_000 - (clock.now % 60_000) + 1_000); // the start of a fresh minute
    const first = new CookieBrowser();
    await signIn(gatehouse, first, 'alice');
    for (let i = 0; i < 10; i++) assert.equal((await doctor(first)).status, 200, `run ${i + 1}`);
    const second = new CookieBrowser();
    await signIn(gatehouse, second, 'alice');
    const limited = await doctor(second);
    assert.equal(limited.status, 429, 'a second session of the same user shares the limit');
    assert.equal(((await limited.json()) as { error: string }).error, 'rate_limited');
    assert.equal(limited.headers.get('retry-after'), '59');
    const bob = new CookieBrowser();
    await signIn(gatehouse, bob, 'bob');
    assert.equal((await doctor(bob)).status, 200);
    clock.advance(60_000);
    assert.equal((await doctor(first)).status, 200, 'a minute later');
  });
});
