import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApiToken } from './helpers/api-tokens.ts';
import { CookieBrowser, signIn } from './helpers/harness.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

const gatehouse = gatehouseForSuite();

function logLines(msg: string): Array<Record<string, unknown>> {
  return gatehouse.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === msg);
}

test("the audit lines of a token's creation and revocation carry its record id, not [redacted]", async () => {
  const browser = new CookieBrowser();
  await signIn(gatehouse, browser, 'alice');
  await createApiToken(gatehouse, browser, { name: 'audited' });
  const list = await browser.request(`${gatehouse.url}/auth/tokens`);
  const { id } = ((await list.json()) as { tokens: Array<{ id: string; name: string }> }).tokens.find(
    (token) => token.name === 'audited',
  )!;
  assert.match(id, /^[\w-]{16}$/);

  const revoked = await browser.request(`${gatehouse.url}/auth/tokens/${id}`, {
    method: 'DELETE',
    headers: { 'x-csrf': '1' },
  });
  assert.equal(revoked.status, 204);

  assert.deepEqual(
    logLines('api token created').map((line) => line.apiCredentialId),
    [id],
  );
  assert.deepEqual(
    logLines('api token revoked').map((line) => line.apiCredentialId),
    [id],
  );
});
