import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { AppError } from '../server/errors.ts';
import { CookieBrowser, signIn, startGatehouse, TestClock, type TestGatehouse, isSignedIn } from './helpers/harness.ts';

const firefoxOnLinux = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const chromeOnWindows =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

interface SessionSummary {
  id: string;
  current: boolean;
  via: string;
  device: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
}

let gatehouse: TestGatehouse;
let clock: TestClock;
beforeEach(async () => {
  clock = new TestClock();
  gatehouse = await startGatehouse({}, { clock: clock.read });
});
afterEach(() => gatehouse.stop());

async function signedIn(username: string, userAgent?: string): Promise<CookieBrowser> {
  const browser = new CookieBrowser(userAgent ? { userAgent } : {});
  await signIn(gatehouse, browser, username);
  return browser;
}

async function sessionsOf(browser: CookieBrowser): Promise<SessionSummary[]> {
  const response = await browser.request(`${gatehouse.url}/auth/sessions`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { sessions: SessionSummary[] }).sessions;
}

function endSession(
  browser: CookieBrowser,
  id: string,
  headers: Record<string, string> = { 'x-csrf': '1' },
): Promise<Response> {
  return browser.request(`${gatehouse.url}/auth/sessions/${encodeURIComponent(id)}`, { method: 'DELETE', headers });
}

test("GET /auth/sessions lists only the user's own sessions, with times, how signed in, a device label and which is current", async () => {
  const laptop = await signedIn('alice', firefoxOnLinux);
  clock.advance(1000);
  await signedIn('alice', chromeOnWindows);
  const bob = await signedIn('bob', firefoxOnLinux);
  const signedInAt = clock.now;

  const response = await laptop.request(`${gatehouse.url}/auth/sessions`);
  assert.equal(response.headers.get('cache-control'), 'no-store');
  const raw = await response.text();
  const { sessions } = JSON.parse(raw) as { sessions: SessionSummary[] };
  assert.deepEqual(
    sessions.map((s) => [s.device, s.current, s.via]),
    [
      ['Firefox on Linux', true, 'oidc'],
      ['Chrome on Windows', false, 'oidc'],
    ],
  );
  assert.equal(Date.parse(sessions[1]!.createdAt), signedInAt);
  assert.equal(Date.parse(sessions[1]!.lastUsedAt), signedInAt);
  assert.ok(Date.parse(sessions[0]!.expiresAt) > signedInAt);

  const bobsIds = (await sessionsOf(bob)).map((s) => s.id);
  assert.equal(bobsIds.length, 1);
  assert.ok(!sessions.some((s) => bobsIds.includes(s.id)), 'no session of another user');
  // A JWT's shape, not /eyJ/i, which a random session id matches now and then.
  assert.doesNotMatch(raw, /eyJ[\w-]+\.eyJ|access|refresh|token|alice@/i, 'no token and no claim in the list');
});

test('an anonymous caller gets 401 JSON from /auth/sessions', async () => {
  const response = await fetch(`${gatehouse.url}/auth/sessions`);
  assert.equal(response.status, 401);
  assert.equal(((await response.json()) as { error: string }).error, 'unauthenticated');
});

test('DELETE /auth/sessions/:id with X-CSRF: 1 ends that session only and revokes its refresh token at the IdP', async () => {
  const laptop = await signedIn('alice', firefoxOnLinux);
  const phone = await signedIn('alice', chromeOnWindows);
  const phoneSession = (await sessionsOf(laptop)).find((s) => !s.current)!;
  const { grants, idp } = gatehouse.gh.deps;
  const phoneTokens = grants.tokens((await grants.get(phoneSession.id))!);

  const response = await endSession(laptop, phoneSession.id);
  assert.equal(response.status, 204);
  assert.equal(await isSignedIn(gatehouse, phone), false);
  assert.equal(await isSignedIn(gatehouse, laptop), true);
  assert.deepEqual(
    (await sessionsOf(laptop)).map((s) => s.current),
    [true],
  );
  await assert.rejects(idp.refreshTokenGrant(phoneTokens), (error: AppError) => error.code === 'invalid_grant');
});

test('ending the current session signs this browser out', async () => {
  const laptop = await signedIn('alice');
  const [own] = await sessionsOf(laptop);
  const response = await endSession(laptop, own!.id);
  assert.equal(response.status, 204);
  assert.equal(await isSignedIn(gatehouse, laptop), false);
  assert.equal(await gatehouse.gh.deps.grants.get(own!.id), undefined);
});

test('DELETE without X-CSRF: 1 is refused with 403 and ends nothing', async () => {
  const laptop = await signedIn('alice');
  const phone = await signedIn('alice');
  const phoneSession = (await sessionsOf(laptop)).find((s) => !s.current)!;
  const response = await endSession(laptop, phoneSession.id, {});
  assert.equal(response.status, 403);
  assert.equal(((await response.json()) as { error: string }).error, 'csrf_proof_missing');
  assert.equal(await isSignedIn(gatehouse, phone), true);
});

test("DELETE of another user's session is 404, like an unknown one, and ends nothing", async () => {
  const alice = await signedIn('alice');
  const bob = await signedIn('bob');
  const [bobsSession] = await sessionsOf(bob);
  const response = await endSession(alice, bobsSession!.id);
  assert.equal(response.status, 404);
  const body = (await response.json()) as { error: string };
  assert.equal(body.error, 'session_not_found');
  assert.equal(await isSignedIn(gatehouse, bob), true);

  const unknown = await endSession(alice, 'AAAAAAAAAAAAAAAAAAAAAAAA');
  assert.equal(unknown.status, 404);
  assert.deepEqual(await unknown.json().then((b) => (b as { error: string }).error), body.error);
});

test('DELETE with a malformed session id is 400 and ends nothing', async () => {
  const alice = await signedIn('alice');
  const response = await endSession(alice, 'not a session id!');
  assert.equal(response.status, 400);
  assert.equal(((await response.json()) as { error: string }).error, 'invalid_session_id');
  assert.equal(await isSignedIn(gatehouse, alice), true);
});

test('"last used" moves with use, but is written at most once a minute', async () => {
  const laptop = await signedIn('alice');
  const signedInAt = clock.now;
  const lastUsed = async (): Promise<number> => Date.parse((await sessionsOf(laptop))[0]!.lastUsedAt);
  assert.equal(await lastUsed(), signedInAt);

  clock.advance(30_000);
  assert.equal(await lastUsed(), signedInAt, 'not rewritten 30 s later');
  clock.advance(31_000);
  assert.equal(await lastUsed(), signedInAt + 61_000, 'rewritten once a minute has passed');
  clock.advance(59_000);
  assert.equal(await lastUsed(), signedInAt + 61_000);
});

test('the home page lists the sessions with an end button each, and the button ends that session', async () => {
  const laptop = await signedIn('alice', firefoxOnLinux);
  const phone = await signedIn('alice', chromeOnWindows);
  const home = await laptop.navigate(`${gatehouse.url}/`);
  const items = [...home.body.matchAll(/<li class="session( current)?">([\s\S]*?)<\/li>/g)];
  assert.equal(items.length, 2);
  assert.match(items[0]![2]!, /Firefox on Linux[\s\S]*this browser/);
  const phoneItem = items.find((item) => !item[1])![2]!;
  assert.match(phoneItem, /Chrome on Windows/);
  const form = /<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)">/.exec(
    phoneItem,
  );
  assert.ok(form, 'an end button with the per-session CSRF token');

  const withoutToken = await laptop.request(`${gatehouse.url}${form[1]}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: '',
  });
  assert.equal(withoutToken.status, 403);
  assert.match(withoutToken.headers.get('content-type') ?? '', /text\/html/, 'a form gets a page, not JSON');
  assert.equal(await isSignedIn(gatehouse, phone), true);

  const ended = await laptop.navigate(`${gatehouse.url}${form[1]}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: form[2]! }).toString(),
  });
  assert.equal(ended.url, `${gatehouse.url}/`);
  assert.equal(await isSignedIn(gatehouse, phone), false);
  assert.equal(await isSignedIn(gatehouse, laptop), true);
  assert.equal([...ended.body.matchAll(/<li class="session/g)].length, 1);
});
