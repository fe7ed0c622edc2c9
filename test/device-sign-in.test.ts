import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withToken } from './helpers/api-tokens.ts';
import { callbackUrlFor, CookieBrowser, signIn, TestClock } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

const clock = new TestClock();
const gatehouse = gatehouseForSuite({}, { clock: clock.read });

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

async function signedInBrowser(username = 'alice'): Promise<CookieBrowser> {
  const browser = new CookieBrowser();
  await signIn(gatehouse, browser, username);
  return browser;
}

/** Opens /device with `code` and presses Approve or Deny (the page's first or second form). */
async function answer(browser: CookieBrowser, code: string, choice: 'approve' | 'deny'): Promise<string> {
  const confirm = await browser.navigate(`${gatehouse.url}/device?user_code=${encodeURIComponent(code)}`);
  assert.equal(confirm.response.status, 200, confirm.body);
  const forms = [...confirm.body.matchAll(/<form method="post" action="\/device\/(approve|deny)"[\s\S]*?<\/form>/g)];
  const form = forms.find((f) => f[1] === choice)![0];
  const done = await browser.submitForm(confirm.url, form, {});
  assert.equal(done.response.status, 200, done.body);
  return done.body;
}

describe('device sign-in (RFC 8628)', () => {
  test('a script polls pending, is slowed down, and after approval on /device gets a gh_ token once', async () => {
    const start = await post('/auth/device/code', {
      client_name: 'hardpy-cli',
      token_name: 'test bench',
      expires_in_days: '30',
      upstreams: 'renku',
    });
    assert.equal(start.status, 200);
    assert.match(start.json.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.equal(start.json.verification_uri, `${gatehouse.url}/device`);
    assert.equal(start.json.verification_uri_complete, `${gatehouse.url}/device?user_code=${start.json.user_code}`);
    assert.deepEqual([start.json.expires_in, start.json.interval], [600, 5]);

    assert.equal((await poll(start.json.device_code)).json.error, 'authorization_pending');
    const tooFast = await poll(start.json.device_code);
    assert.equal(tooFast.status, 400);
    assert.equal(tooFast.json.error, 'slow_down');
    clock.advance(6_000);
    assert.equal(
      (await poll(start.json.device_code)).json.error,
      'slow_down',
      'the interval grew to 10 s (and now to 15 s)',
    );
    clock.advance(16_000);
    assert.equal((await poll(start.json.device_code)).json.error, 'authorization_pending');

    const browser = await signedInBrowser();
    // Typed as a person might: lower case, a space instead of the dash.
    const typed = start.json.user_code.toLowerCase().replace('-', ' ');
    const confirm = await browser.navigate(`${gatehouse.url}/device?user_code=${encodeURIComponent(typed)}`);
    assert.match(confirm.body, /id="device-client">calls itself “hardpy-cli”/);
    assert.match(confirm.body, /<strong>test bench<\/strong>/);
    assert.match(confirm.body, /id="device-asked">30 days, renku, read-write</);
    assert.match(
      confirm.body,
      /id="device-ip">127\.0\.0\.1</,
      'the address as a person reads it, not ::ffff:127.0.0.1',
    );
    const done = await answer(browser, typed, 'approve');
    assert.match(done, /You may close this page/);

    // No wait: once approved, the next poll gets the token; the interval only paces pending polls.
    const granted = await poll(start.json.device_code);
    assert.equal(granted.status, 200);
    assert.match(granted.json.access_token, /^gh_[A-Za-z0-9_-]{43,}$/);
    assert.equal(granted.json.token_type, 'Bearer');
    assert.ok(
      granted.json.expires_in <= 30 * 86400 && granted.json.expires_in > 30 * 86400 - 60,
      `expires_in ${granted.json.expires_in}`,
    );
    assert.equal((await poll(start.json.device_code)).json.error, 'invalid_grant', 'a device_code works once');

    const user = await withToken(`${gatehouse.url}/api/renku/user`, granted.json.access_token);
    assert.equal(user.status, 200);
    assert.equal(user.json.username, 'alice');
    assert.equal(
      (await withToken(`${gatehouse.url}/api/dataverse/api/search?q=x`, granted.json.access_token)).json.error,
      'token_scope',
    );
    const listed = (await (await browser.request(`${gatehouse.url}/auth/tokens`)).json()) as {
      tokens: Array<{ name: string; clientName?: string }>;
    };
    assert.ok(listed.tokens.some((t) => t.name === 'test bench' && t.clientName === 'hardpy-cli'));
    assert.equal(gatehouse.logs.join('\n').includes(granted.json.access_token), false, 'no log line holds the token');
  });

  test('a code approved twice (two tabs) creates one token; the second approval gets device_request_gone', async () => {
    const start = await post('/auth/device/code', { client_name: 'double click', token_name: 'raced' });
    const browser = await signedInBrowser();
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
    const late = await browser.navigate(second, { headers: { accept: 'application/json' } });
    assert.equal(late.response.status, 400);
    assert.equal(JSON.parse(late.body).error, 'device_request_gone');
    const listed = (await (await browser.request(`${gatehouse.url}/auth/tokens`)).json()) as {
      tokens: Array<{ name: string }>;
    };
    assert.equal(listed.tokens.filter((t) => t.name === 'raced').length, 1);
  });

  test('a denied request answers access_denied, then invalid_grant', async () => {
    const start = await post('/auth/device/code', { client_name: 'suspicious' });
    const browser = await signedInBrowser();
    assert.match(await answer(browser, start.json.user_code, 'deny'), /gets no token/);
    assert.equal((await poll(start.json.device_code)).json.error, 'access_denied');
    assert.equal((await poll(start.json.device_code)).json.error, 'invalid_grant');
  });

  test('an unanswered request expires after 600 s: expired_token, and its code no longer opens on /device', async () => {
    const start = await post('/auth/device/code', {});
    clock.advance(601_000);
    assert.equal((await poll(start.json.device_code)).json.error, 'expired_token');
    const browser = await signedInBrowser();
    const page = await browser.navigate(`${gatehouse.url}/device?user_code=${start.json.user_code}`);
    assert.equal(page.response.status, 400);
  });

  test('bad token requests get RFC 6749 errors: unsupported_grant_type, invalid_request, invalid_grant', async () => {
    assert.equal(
      (await post('/auth/device/token', { grant_type: 'password', device_code: 'x' })).json.error,
      'unsupported_grant_type',
    );
    assert.equal((await post('/auth/device/token', { device_code: 'x' })).json.error, 'invalid_request');
    assert.equal(
      (await post('/auth/device/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code' })).json.error,
      'invalid_request',
    );
    const unknown = await poll('no-such-code');
    assert.deepEqual([unknown.status, unknown.json.error], [400, 'invalid_grant']);
    const badDays = await post('/auth/device/code', { expires_in_days: '1000' });
    assert.deepEqual(
      [badDays.status, badDays.json.error, badDays.json.field],
      [400, 'invalid_request', 'expires_in_days'],
    );
  });

  test('/device sends an anonymous browser to sign in, keeping the code in returnTo', async () => {
    const response = await fetch(`${gatehouse.url}/device?user_code=BCDF-GHJK`, { redirect: 'manual' });
    assert.equal(response.status, 302);
    assert.equal(
      response.headers.get('location'),
      `/auth/login?returnTo=${encodeURIComponent('/device?user_code=BCDF-GHJK')}`,
    );
  });

  test('after 5 wrong codes in a minute a user gets 429 with Retry-After, even for a right code; another user does not', async () => {
    clock.advance(60_000 - (clock.now % 60_000) + 1_000); // the start of a fresh minute
    const start = await post('/auth/device/code', { client_name: 'guessed' });
    const guesser = await signedInBrowser();
    for (let i = 0; i < 5; i++) {
      const wrong = await guesser.navigate(`${gatehouse.url}/device?user_code=BBBB-BBB${'CDFGH'[i]}`);
      assert.equal(wrong.response.status, 400, `guess ${i + 1}`);
    }
    const limited = await guesser.navigate(`${gatehouse.url}/device?user_code=${start.json.user_code}`);
    assert.equal(limited.response.status, 429);
    assert.equal(limited.response.headers.get('retry-after'), '59');
    const other = await signedInBrowser('bob');
    assert.equal(
      (await other.navigate(`${gatehouse.url}/device?user_code=${start.json.user_code}`)).response.status,
      200,
    );
    clock.advance(60_000);
    assert.equal(
      (await guesser.navigate(`${gatehouse.url}/device?user_code=${start.json.user_code}`)).response.status,
      200,
      'a minute later it may try again',
    );
  });

  test('docs/examples/device_login.py (python3, standard library) gets a token that reaches the API', {
    timeout: 60_000,
  }, async () => {
    const script = fileURLToPath(new URL('../docs/examples/device_login.py', import.meta.url));
    const child = spawn('python3', [script, gatehouse.url, '--client-name', 'device_login.py test', '--days', '7'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Listened for from the start: a script that exits before the approval must not be missed.
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    const code = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        const match = /enter the code ([A-Z]{4}-[A-Z]{4})/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      void exited.then(() => reject(new Error(`device_login.py exited early: ${stderr}`)));
    });
    const browser = await signedInBrowser();
    await answer(browser, code, 'approve');
    const exitCode = await exited;
    assert.equal(exitCode, 0, stderr);
    const token = stdout.trim();
    assert.match(token, /^gh_[A-Za-z0-9_-]{43,}$/);
    assert.equal((await withToken(`${gatehouse.url}/api/renku/user`, token)).json.username, 'alice');
  });
});
