import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashHandle } from '../server/random.ts';
import { callbackUrlFor, CookieBrowser, signIn } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

const gatehouse = gatehouseForSuite();

async function post(path: string, fields: Record<string, string>): Promise<{ status: number; json: any }> {
  const response = await fetch(`${gatehouse.url}${path}`, { method: 'POST', body: new URLSearchParams(fields) });
  return { status: response.status, json: await response.json() };
}

function poll(deviceCode: string): Promise<{ status: number; json: any }> {
  return post('/auth/device/token', {
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    device_code: deviceCode,
  });
}

async function storedRequest(deviceCode: string): Promise<Record<string, unknown>> {
  const raw = await gatehouse.gh.deps.store.get(`device:${hashHandle(deviceCode)}`);
  return JSON.parse(raw!) as Record<string, unknown>;
}

describe('device sign-in under concurrency', () => {
  test('a poll that read the request while pending never overwrites a denial made meanwhile', async () => {
    const start = await post('/auth/device/code', { client_name: 'racing poller' });
    const key = `device:${hashHandle(start.json.device_code)}`;
    const store = gatehouse.gh.deps.store;
    const get = store.get.bind(store);
    // The user denies between the poll's read and its write.
    store.get = async (k) => {
      const raw = await get(k);
      if (k === key && raw !== undefined) {
        store.get = get;
        await store.set(key, JSON.stringify({ ...JSON.parse(raw), status: 'denied' }), 600_000);
      }
      return raw;
    };
    try {
      assert.equal((await poll(start.json.device_code)).json.error, 'authorization_pending');
    } finally {
      store.get = get;
    }
    assert.equal((await storedRequest(start.json.device_code)).status, 'denied');
    assert.equal((await poll(start.json.device_code)).json.error, 'access_denied');
  });

  test("an approval refused after the code exchange (already answered) revokes the new grant's refresh token at the IdP", async () => {
    const start = await post('/auth/device/code', { client_name: 'double click', token_name: 'raced twice' });
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser, 'alice');
    const confirm = await browser.navigate(`${gatehouse.url}/device?user_code=${start.json.user_code}`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(confirm.body)![1]!;
    const approve = async (): Promise<string> => {
      const response = await browser.request(`${gatehouse.url}/device/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf, user_code: start.json.user_code }).toString(),
      });
      assert.equal(response.status, 303);
      return callbackUrlFor(gatehouse, browser, 'alice', response.headers.get('location')!);
    };
    const [first, second] = [await approve(), await approve()];
    assert.equal((await browser.navigate(first)).response.status, 200);

    const idp = gatehouse.gh.deps.idp;
    const revoke = idp.revoke.bind(idp);
    const revoked: string[] = [];
    idp.revoke = async (token, hint) => {
      revoked.push(token);
      return revoke(token, hint);
    };
    try {
      const late = await browser.navigate(second, { headers: { accept: 'application/json' } });
      assert.equal(JSON.parse(late.body).error, 'device_request_gone');
    } finally {
      idp.revoke = revoke;
    }
    assert.equal(revoked.length, 1, 'the orphan refresh token was revoked');
    assert.equal(await gatehouse.gh.devIdp!.provider.RefreshToken.find(revoked[0]!), undefined);
  });

  test('a user code already held by a pending request is drawn again, never shared', async () => {
    const store = gatehouse.gh.deps.store;
    const setIfAbsent = store.setIfAbsent.bind(store);
    const claimed: string[] = [];
    // The first code drawn is taken: as if another pending request held it.
    store.setIfAbsent = async (key, value, ttlMs) => {
      if (!key.startsWith('device-user:')) return setIfAbsent(key, value, ttlMs);
      claimed.push(key);
      return claimed.length === 1 ? false : setIfAbsent(key, value, ttlMs);
    };
    let start: { status: number; json: any };
    try {
      start = await post('/auth/device/code', { client_name: 'unlucky' });
    } finally {
      store.setIfAbsent = setIfAbsent;
    }
    assert.equal(start.status, 200);
    assert.equal(claimed.length, 2);
    assert.equal(`device-user:${String(start.json.user_code).replace('-', '')}`, claimed[1]);
    assert.equal(await store.get(claimed[1]!), hashHandle(start.json.device_code));
  });

  test('a client_name loses its bidi controls and zero-width characters, so /device shows what it says', async () => {
    const start = await post('/auth/device/code', {
      client_name: 'git\u202Egnp.exe\u202C helper\u200B\u2066x\u2069\uFEFF',
    });
    assert.equal(start.status, 200);
    assert.equal((await storedRequest(start.json.device_code)).clientName, 'gitgnp.exe helperx');
  });
});
