// Rotating GATEHOUSE_SESSION_SECRET: A alone, then "B,A" (B signs and seals, A still opens),
// then B alone. What was used or re-sealed under "B,A" keeps working; the rest ends with a 401
// and a log line, never a 500.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { main as secretsCommand } from '../server/doctor/session-secrets.ts';
import { createApiToken, withToken } from './helpers/api-tokens.ts';
import {
  CookieBrowser,
  signIn,
  startCluster,
  startGatehouse,
  type TestCluster,
  type TestGatehouse,
} from './helpers/harness.ts';
import { boundServer } from './helpers/ports.ts';
import { redisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';

const secretA = 'secret-A-that-is-long-enough-for-gatehouse-0001';
const secretB = 'secret-B-that-is-long-enough-for-gatehouse-0002';
const secretC = 'secret-C-that-is-long-enough-for-gatehouse-0003';

describe('session secret rotation', { skip: redisSkipReason() }, () => {
  let redis: TestRedis;
  let cluster: TestCluster;
  let running: TestGatehouse | undefined;
  let env: Record<string, string>;

  /** Stops the running instance and starts one with `secrets` against the same IdP and Redis. */
  async function restartWith(secrets: string): Promise<TestGatehouse> {
    await running?.stop();
    // Its own port; the public URL (where the IdP sends the browser back) stays the first one's.
    const { server, url } = await boundServer();
    running = { ...(await startGatehouse({ ...env, GATEHOUSE_SESSION_SECRET: secrets }, { server })), url };
    return running;
  }

  async function counts(secrets: string, ...args: string[]) {
    let output = '';
    const status = await secretsCommand(['--json', ...args], { ...env, GATEHOUSE_SESSION_SECRET: secrets }, (text) => {
      output += text;
    });
    return { status, report: JSON.parse(output) as { grants: Record<string, number> } };
  }

  let usedToken = '';
  const user = (gatehouse: TestGatehouse, browser: CookieBrowser) => browser.request(`${gatehouse.url}/auth/user`);

  before(async () => {
    redis = await startTestRedis();
    cluster = await startCluster(1, {
      GATEHOUSE_STORE: 'redis',
      GATEHOUSE_REDIS_URL: redis.url,
      GATEHOUSE_SESSION_SECRET: secretA,
    });
    const first = cluster.instances[0]!;
    env = {
      GATEHOUSE_STORE: 'redis',
      GATEHOUSE_REDIS_URL: redis.url,
      GATEHOUSE_PUBLIC_URL: first.url,
      GATEHOUSE_OIDC_ISSUER: cluster.idp.issuer,
      GATEHOUSE_OIDC_CLIENT_ID: 'gatehouse',
      GATEHOUSE_OIDC_CLIENT_SECRET: first.gh.config.oidc.clientSecret!,
    };
  });
  after(async () => {
    await running?.stop();
    await cluster?.stop();
    await redis?.close();
  });

  test('what was made under A works under "B,A" and is re-sealed; under B alone the rest ends with 401, never 500', async () => {
    const a = cluster.instances[0]!;
    const used = new CookieBrowser();
    const unused = new CookieBrowser();
    await signIn(a, used);
    usedToken = (await createApiToken(a, used)).secret;
    await signIn(a, unused, 'bob');
    const unusedToken = (await createApiToken(a, unused)).secret;
    await signIn(a, new CookieBrowser());
    const cookieUnderA = used.cookieHeader(new URL(a.url));

    const rotating = await restartWith(`${secretB},${secretA}`);
    const before = await counts(`${secretB},${secretA}`);
    assert.deepEqual(before.report.grants, { current: 0, older: 5, unknown: 0, resealed: 0 });
    assert.equal(before.status, 1, 'records still need A');

    const page = await user(rotating, used);
    assert.equal(page.status, 200);
    assert.notEqual(used.cookieHeader(new URL(a.url)), cookieUnderA, 'the cookie is re-signed with B');
    assert.equal((await withToken(`${rotating.url}/auth/user`, usedToken)).status, 200);
    const after = await counts(`${secretB},${secretA}`);
    assert.deepEqual(after.report.grants, { current: 2, older: 3, unknown: 0, resealed: 0 });

    const rotated = await restartWith(secretB);
    assert.equal((await user(rotated, used)).status, 200, 'the used browser session works with B alone');
    assert.equal((await withToken(`${rotated.url}/auth/user`, usedToken)).status, 200, 'so does the used API token');

    const endedToken = await withToken(`${rotated.url}/auth/user`, unusedToken);
    assert.equal(endedToken.status, 401);
    assert.equal(endedToken.json.error, 'session_expired', 'the grant behind the token has ended');
    const endedBrowser = await user(rotated, unused);
    assert.equal(endedBrowser.status, 401);
    assert.match(
      rotated.logs.join('\n'),
      /grant not usable: its tokens were sealed under a session secret no longer configured/,
    );
    assert.ok(!rotated.logs.some((line) => line.includes('"level":"error"')), 'no 500s were logged');
  });

  // Goes on from the state the test above left: the used session and token are sealed with B,
  // the other three grants with A, which is gone.
  test('npm run secrets -- --reseal seals every record under the newest secret, so the older one can go', async () => {
    const resealed = await counts(`${secretC},${secretB}`, '--reseal');
    assert.deepEqual(resealed.report.grants, { current: 0, older: 2, unknown: 3, resealed: 2 });
    assert.equal(resealed.status, 0);
    assert.deepEqual((await counts(`${secretC},${secretB}`)).report.grants, {
      current: 2,
      older: 0,
      unknown: 3,
      resealed: 0,
    });

    const onlyC = await restartWith(secretC);
    assert.equal((await withToken(`${onlyC.url}/auth/user`, usedToken)).status, 200);
  });
});
