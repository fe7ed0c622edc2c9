import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { StartOptions } from '../server/start.ts';
import {
  callbackUrlFor,
  CookieBrowser,
  signIn,
  startGatehouse,
  TestClock,
  type TestGatehouse,
} from './helpers/harness.ts';

const second = 1000;
let running: TestGatehouse | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** Gatehouse on a test clock, and alice signed in at its "now"; returns her grant id too. */
async function signedInOnTestClock(
  env: Record<string, string>,
  options: Omit<StartOptions, 'env' | 'logger' | 'clock'> = {},
) {
  const clock = new TestClock();
  const gatehouse = (running = await startGatehouse(env, { ...options, clock: clock.read }));
  const browser = new CookieBrowser();
  await signIn(gatehouse, browser, 'alice');
  const [grantId] = await gatehouse.gh.deps.grants.idsBySub('alice');
  assert.ok(grantId);
  const signedInAt = clock.now;

  /** /auth/user as this browser: its session's end, or undefined when signed out. */
  const sessionEnd = async (): Promise<number | undefined> => {
    const response = await browser.request(`${gatehouse.url}/auth/user`);
    if (response.status === 401) {
      assert.equal(((await response.json()) as { error: string }).error, 'unauthenticated');
      return undefined;
    }
    assert.equal(response.status, 200);
    return Date.parse(((await response.json()) as { session: { expiresAt: string } }).session.expiresAt);
  };
  /** Whether the grant record is still in the store (not merely past its end). */
  const grantStored = async (): Promise<boolean> =>
    (await gatehouse.gh.deps.store.get(`grant:${grantId}`)) !== undefined;
  return { gatehouse, browser, clock, signedInAt, sessionEnd, grantStored };
}

test('a session unused for longer than GATEHOUSE_SESSION_IDLE is signed out and its grant deleted', async () => {
  const { gatehouse, browser, clock, signedInAt, sessionEnd, grantStored } = await signedInOnTestClock({
    GATEHOUSE_SESSION_IDLE: '60',
    GATEHOUSE_SESSION_MAX: '3600',
  });
  assert.equal(await sessionEnd(), signedInAt + 60 * second);

  clock.advance(61 * second);
  assert.equal(await sessionEnd(), undefined);
  assert.equal(await grantStored(), false, 'the grant is deleted, not left to expire with its tokens');
  const home = await browser.navigate(`${gatehouse.url}/`);
  assert.equal(home.response.status, 200);
  assert.match(home.body, /id="sign-in"/, 'the browser sees the sign-in page');
});

test('signing in again after the session idled out lands on returnTo with a new session', async () => {
  // The callback itself finds the idle session and ends it before it makes the new one.
  const { gatehouse, browser, clock, sessionEnd } = await signedInOnTestClock({
    GATEHOUSE_SESSION_IDLE: '60',
    GATEHOUSE_SESSION_MAX: '3600',
  });
  const callback = await callbackUrlFor(gatehouse, browser);
  clock.advance(61 * second);
  const landed = await browser.request(callback);
  assert.equal(landed.status, 302);
  assert.equal(landed.headers.get('location'), '/');
  assert.equal(await sessionEnd(), clock.now + 60 * second, 'signed in again');
  assert.deepEqual(
    await gatehouse.gh.deps.grants.idsBySub('alice').then((ids) => ids.length),
    1,
    'the idle grant was deleted',
  );
});

test('activity slides the idle timeout: a session used every 50 s outlives a 60 s idle limit', async () => {
  const { clock, sessionEnd, grantStored } = await signedInOnTestClock({
    GATEHOUSE_SESSION_IDLE: '60',
    GATEHOUSE_SESSION_MAX: '3600',
  });
  for (let i = 0; i < 4; i++) {
    clock.advance(50 * second);
    assert.equal(await sessionEnd(), clock.now + 60 * second, `still signed in after ${(i + 1) * 50} s`);
  }
  assert.equal(await grantStored(), true);
});

test('a short idle limit is kept to within a quarter: a session used every 12 s outlives a 20 s idle limit', async () => {
  const { clock, sessionEnd, grantStored } = await signedInOnTestClock({
    GATEHOUSE_SESSION_IDLE: '20',
    GATEHOUSE_SESSION_MAX: '3600',
  });
  for (let i = 0; i < 5; i++) {
    clock.advance(12 * second);
    const end = await sessionEnd();
    assert.ok(end !== undefined, `still signed in after ${(i + 1) * 12} s`);
    assert.ok(
      end >= clock.now + 15 * second,
      `at least three quarters of the idle limit left after ${(i + 1) * 12} s (${(end - clock.now) / second} s)`,
    );
  }
  assert.equal(await grantStored(), true);
});

test('an active session ends at GATEHOUSE_SESSION_MAX however active, and its grant is deleted', async () => {
  const { clock, signedInAt, sessionEnd, grantStored } = await signedInOnTestClock({
    GATEHOUSE_SESSION_IDLE: '60',
    GATEHOUSE_SESSION_MAX: '150',
  });
  clock.advance(50 * second);
  assert.equal(await sessionEnd(), clock.now + 60 * second);
  clock.advance(50 * second);
  assert.equal(await sessionEnd(), signedInAt + 150 * second, 'the absolute end comes before the idle one');
  clock.advance(49 * second);
  assert.equal(await sessionEnd(), signedInAt + 150 * second);

  clock.advance(2 * second);
  assert.equal(await sessionEnd(), undefined);
  assert.equal(await grantStored(), false);
});

test('a session never outlives the refresh token when the IdP states refresh_expires_in', async () => {
  const { clock, signedInAt, sessionEnd } = await signedInOnTestClock(
    { GATEHOUSE_SESSION_IDLE: '3600', GATEHOUSE_SESSION_MAX: '28800' },
    { devIdp: { statesRefreshExpiresIn: true, refreshTokenTtlSeconds: 120 } },
  );
  assert.equal(await sessionEnd(), signedInAt + 120 * second);
  clock.advance(119 * second);
  assert.equal(await sessionEnd(), signedInAt + 120 * second);
  clock.advance(2 * second);
  assert.equal(await sessionEnd(), undefined);
});

test('without refresh_expires_in from the IdP the session lasts until GATEHOUSE_SESSION_MAX', async () => {
  const { clock, signedInAt, sessionEnd } = await signedInOnTestClock(
    { GATEHOUSE_SESSION_IDLE: '3600', GATEHOUSE_SESSION_MAX: '28800' },
    { devIdp: { refreshTokenTtlSeconds: 120 } },
  );
  clock.advance(121 * second);
  assert.equal(await sessionEnd(), signedInAt + 121 * second + 3600 * second);
});

test('each refresh moves the session end with the new refresh token, up to GATEHOUSE_SESSION_MAX', async () => {
  // Keycloak's refresh_expires_in is its SSO idle time: an active user must not be signed out by it.
  const { gatehouse, browser, clock, signedInAt, sessionEnd } = await signedInOnTestClock(
    { GATEHOUSE_SESSION_IDLE: '3600', GATEHOUSE_SESSION_MAX: '300' },
    { devIdp: { statesRefreshExpiresIn: true, refreshTokenTtlSeconds: 120, accessTokenTtlSeconds: 60 } },
  );
  const callApi = async () =>
    (await browser.request(`${gatehouse.url}/api/renku/user`, { headers: { 'x-csrf': '1' } })).status;
  assert.equal(await sessionEnd(), signedInAt + 120 * second);

  clock.advance(100 * second); // the access token has expired: this call refreshes it
  assert.equal(await callApi(), 200);
  assert.equal(await sessionEnd(), clock.now + 120 * second);

  clock.advance(100 * second); // 200 s: past the first refresh token's end, within the second's
  assert.equal(await callApi(), 200);
  assert.equal(await sessionEnd(), signedInAt + 300 * second, 'never past the absolute end');

  clock.advance(101 * second);
  assert.equal(await sessionEnd(), undefined);
});
