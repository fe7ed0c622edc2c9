import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawHandle, GrantStore } from '../server/grants/grant-store.ts';
import { MemoryStore } from '../server/store/memory-store.ts';

const secret = 'a-test-secret-that-is-long-enough-1234';

function newGrant() {
  return {
    sub: 'alice',
    sid: 'sid-1',
    via: 'oidc' as const,
    claims: { name: 'Alice' },
    tokens: { accessToken: 'at-1', refreshToken: 'rt-1' },
    maxLifetimeMs: 60 * 60 * 1000,
  };
}

test('replaceTokens stores rotated tokens on a live grant', async () => {
  const grants = new GrantStore(new MemoryStore(), secret, Date.now);
  const grant = await grants.create(newGrant());
  const updated = await grants.replaceTokens(grant, { accessToken: 'at-2', refreshToken: 'rt-2' });
  assert.ok(updated);
  assert.equal(grants.tokens((await grants.get(grant.id))!).refreshToken, 'rt-2');
});

test('replaceTokens does not bring back a grant ended between its read and its write', async () => {
  const store = new MemoryStore();
  const grants = new GrantStore(store, secret, Date.now);
  const grant = await grants.create(newGrant());
  // Another instance's logout lands right after replaceTokens has read the grant.
  const read = store.get.bind(store);
  store.get = async (key) => {
    const value = await read(key);
    if (key === `grant:${grant.id}`) await grants.end(grant.id);
    return value;
  };
  const updated = await grants.replaceTokens(grant, { accessToken: 'at-2', refreshToken: 'rt-2' });
  store.get = read;
  assert.equal(updated, undefined);
  assert.equal(await grants.get(grant.id), undefined, 'the ended grant stays ended');
});

test('end returns the grant as stored, with the tokens of its latest refresh', async () => {
  const grants = new GrantStore(new MemoryStore(), secret, Date.now);
  const grant = await grants.create(newGrant());
  await grants.replaceTokens(grant, { accessToken: 'at-2', refreshToken: 'rt-2' });
  const ended = await grants.end(grant.id);
  assert.equal(grants.tokens(ended!).refreshToken, 'rt-2');
  assert.equal(await grants.end(grant.id), undefined, 'a grant ends once');
});

test('a handle (SOAP IdentityToken) that would start like an API token (gh_) is drawn again', () => {
  const draws = ['gh_looks-like-an-api-token', 'gh_again', 'Zx9-a-plain-handle'];
  let calls = 0;
  assert.equal(
    drawHandle(() => draws[calls++]!),
    'Zx9-a-plain-handle',
  );
  assert.equal(calls, 3);
  assert.match(drawHandle(), /^[\w-]{43}$/);
});
