import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { exampleCall } from '../server/tokens/example-call.ts';
import { createApiToken } from './helpers/api-tokens.ts';
import { CookieBrowser, signIn } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

// The "Token created" page is the first thing a new user pastes from: its snippets must answer
// 200 as pasted, and the page must survive a reload without an error or a second token.

const gatehouse = gatehouseForSuite();

/** Why the R snippet cannot run here; CI installs R with httr2 and must not skip it (as for docs/examples). */
function rSkipReason(): string | false {
  if (spawnSync('Rscript', ['-e', 'library(httr2)'], { stdio: 'ignore' }).status === 0) return false;
  const reason = 'needs R with httr2 (apt-get install r-base-core r-cran-httr2)';
  if (process.env.CI === 'true') throw new Error(`The R snippet cannot run: ${reason}. CI must not skip it.`);
  return reason;
}

async function signedInBrowser(username = 'alice'): Promise<CookieBrowser> {
  const browser = new CookieBrowser();
  await signIn(gatehouse, browser, username);
  return browser;
}

/** The text of `<pre id="…">` on a page, as the browser shows it (what a user copies). */
function snippet(page: string, id: string): string {
  const html = new RegExp(`<pre id="${id}">([\\s\\S]*?)</pre>`).exec(page)?.[1];
  assert.ok(html !== undefined, `no #${id} on the page`);
  return html
    .replace(/&#34;|&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Runs a snippet as a user would paste it; asynchronously, since Gatehouse answers from this process. */
function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { PATH: process.env.PATH, ...env }, timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ status: error ? Number(error.code ?? 1) || 1 : 0, stdout, stderr }),
    );
  });
}

async function tokenCount(browser: CookieBrowser): Promise<number> {
  const response = await browser.request(`${gatehouse.url}/auth/tokens`);
  return ((await response.json()) as { tokens: unknown[] }).tokens.length;
}

describe('the Token created page', () => {
  test("its curl and Python snippets, pasted as shown, answer 200 with the user's data from the upstream's declared example path", async () => {
    const browser = await signedInBrowser();
    const { secret, page } = await createApiToken(gatehouse, browser, { name: 'pasted snippets' });
    const curl = snippet(page, 'snippet-curl');
    assert.ok(curl.includes(`${gatehouse.url}/api/renku/user`), curl);

    // The curl snippet exports the token itself, so it runs in a bare shell.
    const shell = await run('sh', ['-c', curl], {});
    assert.equal(shell.status, 0, shell.stderr);
    assert.equal(JSON.parse(shell.stdout).username, 'alice');

    const python = await run('python3', ['-c', snippet(page, 'snippet-python')], { GATEHOUSE_TOKEN: secret });
    assert.equal(python.status, 0, python.stderr);
    assert.match(python.stdout, /'username': 'alice'/);
  });

  test('its R snippet, pasted as shown, answers 200', { skip: rSkipReason() }, async () => {
    const browser = await signedInBrowser();
    const { secret, page } = await createApiToken(gatehouse, browser, { name: 'R snippet' });
    const r = await run('Rscript', ['-e', snippet(page, 'snippet-r')], { GATEHOUSE_TOKEN: secret });
    assert.equal(r.status, 0, r.stderr);
    // Rscript prints the last value, the parsed answer, as R prints a list.
    assert.match(r.stdout, /\$username\s+\[1\] "alice"/);
  });

  test("a token limited to one upstream gets snippets that call that upstream's example, and they answer 200", async () => {
    const browser = await signedInBrowser('bob');
    const { secret, page } = await createApiToken(gatehouse, browser, {
      name: 'dataverse only',
      upstreams: ['dataverse'],
      read_only: true,
    });
    const curl = snippet(page, 'snippet-curl');
    assert.ok(curl.includes(`${gatehouse.url}/api/dataverse/api/info/version`), curl);
    const shell = await run('sh', ['-c', curl], {});
    assert.equal(shell.status, 0, shell.stderr);
    assert.equal(JSON.parse(shell.stdout).status, 'OK');
    const python = await run('python3', ['-c', snippet(page, 'snippet-python')], { GATEHOUSE_TOKEN: secret });
    assert.equal(python.status, 0, python.stderr);
  });

  test('after creation the browser is sent (303) to a page of its own: the callback URL and the secret stay out of the address', async () => {
    const browser = await signedInBrowser();
    const { secret, url } = await createApiToken(gatehouse, browser, { name: 'own page' });
    assert.match(new URL(url).pathname, /^\/tokens\/[\w-]{16}\/created$/);
    assert.equal(url.includes(secret), false);
    const callback = browser.seen.findLast((seen) => new URL(seen.url).pathname === '/auth/callback');
    assert.equal(callback?.status, 303);
    assert.equal(new URL(callback.headers.get('location')!, gatehouse.url).href, url);
    const shown = browser.seen.at(-1)!;
    assert.equal(shown.headers.get('cache-control'), 'no-store', 'the browser keeps no copy of the secret');
  });

  test('a reload says the token was shown once and is listed on /tokens: no error, no secret, no second token', async () => {
    const browser = await signedInBrowser('bob');
    const before = await tokenCount(browser);
    const { secret, url } = await createApiToken(gatehouse, browser, { name: 'reloaded' });
    const reload = await browser.navigate(url);
    assert.equal(reload.response.status, 200);
    assert.equal(reload.url, url);
    assert.match(reload.body, /id="token-shown-once"/);
    assert.match(reload.body, /was shown once[\s\S]*href="\/tokens"/);
    assert.equal(reload.body.includes(secret), false);
    assert.doesNotMatch(reload.body, /unknown_state|already used/);
    assert.match(snippet(reload.body, 'snippet-curl'), /\$GATEHOUSE_TOKEN/, 'the snippets stay, without the secret');
    assert.equal(await tokenCount(browser), before + 1);
  });

  test("another user's token page is 404 token_not_found, and an anonymous visitor is sent to sign in", async () => {
    const alice = await signedInBrowser('alice');
    const { url } = await createApiToken(gatehouse, alice, { name: 'alice only' });
    const bob = await signedInBrowser('bob');
    const foreign = await bob.request(url, { headers: { accept: 'application/json' } });
    assert.equal(foreign.status, 404);
    assert.equal(((await foreign.json()) as { error: string }).error, 'token_not_found');
    const anonymous = await fetch(url, { redirect: 'manual' });
    assert.equal(anonymous.status, 302);
    assert.match(anonymous.headers.get('location')!, /^\/auth\/login\?returnTo=/);
  });

  test('/tokens shows a curl line that answers 200 with a token, and links docs/scripts.md, which Gatehouse serves', async () => {
    const browser = await signedInBrowser();
    const { secret } = await createApiToken(gatehouse, browser, { name: 'listed' });
    const page = (await browser.navigate(`${gatehouse.url}/tokens`)).body;
    const shell = await run('sh', ['-c', snippet(page, 'tokens-snippet-curl')], { GATEHOUSE_TOKEN: secret });
    assert.equal(shell.status, 0, shell.stderr);
    assert.match(page, /<a href="\/docs\/scripts\.md">docs\/scripts\.md<\/a>/);
    const docs = await fetch(`${gatehouse.url}/docs/scripts.md`);
    assert.equal(docs.status, 200);
    assert.match(docs.headers.get('content-type')!, /^text\/plain/);
    assert.match(await docs.text(), /^# /);
    const example = await fetch(`${gatehouse.url}/docs/examples/call_api.py`);
    assert.equal(example.status, 200);
    assert.equal((await fetch(`${gatehouse.url}/docs/../package.json`)).status, 404);
  });
});

describe('the call the snippets show', () => {
  const upstreams = [
    { name: 'stats' },
    { name: 'renku', example: '/user' },
    { name: 'dataverse', example: '/api/info/version' },
  ];

  test('is the first reachable upstream that declares an example, else a stand-in path the page asks to edit', () => {
    assert.deepEqual(exampleCall(upstreams), { upstream: 'renku', path: '/api/renku/user', declared: true });
    assert.deepEqual(exampleCall(upstreams, ['dataverse']), {
      upstream: 'dataverse',
      path: '/api/dataverse/api/info/version',
      declared: true,
    });
    assert.deepEqual(exampleCall(upstreams, ['stats']), {
      upstream: 'stats',
      path: '/api/stats/your-path',
      declared: false,
    });
    assert.equal(exampleCall([], null), undefined);
  });
});
