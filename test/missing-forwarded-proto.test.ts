// A proxy that forgets X-Forwarded-Proto in front of an https Gatehouse breaks sign-in without a
// word: the session cookie is Secure, and the request looks like plain http. These tests pin down
// the one warning that says so (docs/deploy.md, "Without X-Forwarded-Proto").
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { describeTrustProxy } from '../server/http/trust-proxy.ts';
import { startGatehouse, type TestGatehouse } from './helpers/harness.ts';
import { requestFrom } from './helpers/request-from.ts';

const proxy = '127.0.0.1';
// Any other loopback address is a peer that is not a trusted proxy.
const otherPeer = '127.0.0.2';

/** A request to `gatehouse` from `peer`, straight to its socket (the public URL names the proxy). */
async function requestAs(gatehouse: TestGatehouse, peer: string, path: string, headers: Record<string, string> = {}) {
  const { port } = gatehouse.gh.server.address() as AddressInfo;
  return requestFrom(peer, `http://127.0.0.1:${port}${path}`, { headers });
}

/** The missing-X-Forwarded-Proto warnings Gatehouse logged, parsed. */
function warnings(gatehouse: TestGatehouse): Array<Record<string, string>> {
  return gatehouse.logs
    .map((line) => JSON.parse(line) as Record<string, string>)
    .filter((entry) => entry.level === 'warn' && entry.msg?.includes('without X-Forwarded-Proto'));
}

async function withGatehouse(env: Record<string, string>, run: (gatehouse: TestGatehouse) => Promise<void>) {
  const gatehouse = await startGatehouse(env);
  try {
    await run(gatehouse);
  } finally {
    await gatehouse.stop();
  }
}

describe('with an https public URL behind a trusted proxy', () => {
  const behindProxy = { GATEHOUSE_PUBLIC_URL: 'https://gatehouse.test', GATEHOUSE_TRUST_PROXY: proxy };

  test("the trusted proxy's first request without X-Forwarded-Proto logs one warning naming the header, the peer and the path", async () => {
    await withGatehouse(behindProxy, async (gatehouse) => {
      assert.equal((await requestAs(gatehouse, proxy, '/auth/user?x=1')).status, 401);
      const [warning, ...more] = warnings(gatehouse);
      assert.ok(warning, 'a warning');
      assert.deepEqual(more, []);
      assert.match(warning.msg!, /X-Forwarded-Proto: https/);
      assert.match(warning.msg!, /GATEHOUSE_PUBLIC_URL is https/);
      assert.match(warning.msg!, /proxy_set_header X-Forwarded-Proto \$scheme/);
      assert.equal(warning.peer, proxy, 'as the operator writes it, not ::ffff:127.0.0.1');
      assert.equal(warning.path, '/auth/user', 'the path, without its query');
      assert.equal(warning.received, '(none)');
      // docs/deploy.md quotes the line an operator will search for: the same words.
      const doc = readFileSync(new URL('../docs/deploy.md', import.meta.url), 'utf8');
      assert.ok(doc.includes(JSON.stringify(warning.msg).slice(1, -1)), 'docs/deploy.md quotes this warning');

      // Once per process: more such requests, other paths, /api included, add nothing.
      await requestAs(gatehouse, proxy, '/');
      await requestAs(gatehouse, proxy, '/api/renku/projects', { 'x-forwarded-proto': 'http' });
      assert.equal(warnings(gatehouse).length, 1);
    });
  });

  test('X-Forwarded-Proto: http (or HTTPS, which Express does not take for https) is named in the warning', async () => {
    await withGatehouse(behindProxy, async (gatehouse) => {
      await requestAs(gatehouse, proxy, '/auth/user', { 'x-forwarded-proto': 'http, https' });
      assert.equal(warnings(gatehouse)[0]?.received, 'http, https', 'the first value counts, as in Express');
    });
    await withGatehouse(behindProxy, async (gatehouse) => {
      await requestAs(gatehouse, proxy, '/auth/user', { 'x-forwarded-proto': 'HTTPS' });
      assert.equal(warnings(gatehouse)[0]?.received, 'HTTPS');
    });
  });

  test('no warning for X-Forwarded-Proto: https, for health probes, or for a peer that is not trusted; then the first miss from the proxy warns', async () => {
    await withGatehouse(behindProxy, async (gatehouse) => {
      assert.equal((await requestAs(gatehouse, proxy, '/auth/user', { 'x-forwarded-proto': 'https' })).status, 401);
      await requestAs(gatehouse, proxy, '/api/renku/projects', { 'x-forwarded-proto': 'https, http' });
      assert.equal((await requestAs(gatehouse, proxy, '/healthz')).status, 200);
      await requestAs(gatehouse, proxy, '/readyz?probe=kubelet');
      // A peer that is not trusted cannot say https anyway; untrusted-forwarding.ts speaks for it.
      await requestAs(gatehouse, otherPeer, '/auth/user');
      assert.deepEqual(warnings(gatehouse), []);

      // The warning was armed all along: the proxy's first miss gives it.
      await requestAs(gatehouse, proxy, '/auth/login');
      assert.equal(warnings(gatehouse).length, 1);
    });
  });
});

test('with an http public URL, requests without X-Forwarded-Proto are expected and give no warning', async () => {
  await withGatehouse({ GATEHOUSE_TRUST_PROXY: proxy }, async (gatehouse) => {
    assert.equal((await requestAs(gatehouse, proxy, '/auth/user')).status, 401);
    await requestAs(gatehouse, proxy, '/', { 'x-forwarded-proto': 'http' });
    assert.deepEqual(warnings(gatehouse), []);
  });
});

test("the start banner's trusted-proxies line reads a list as written, 0 as nobody, and a count as hops", () => {
  assert.equal(describeTrustProxy(['loopback', '10.0.0.0/8']), 'loopback, 10.0.0.0/8');
  assert.match(describeTrustProxy(0), /^none /);
  assert.equal(describeTrustProxy(1), 'the nearest hop, whatever their address');
  assert.equal(describeTrustProxy(2), 'the 2 nearest hops, whatever their address');
});
