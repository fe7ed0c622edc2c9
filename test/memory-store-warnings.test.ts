import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../server/config.ts';
import type { AppDeps } from '../server/deps.ts';
import { checkStore } from '../server/doctor/check-store.ts';
import { AppError } from '../server/errors.ts';
import { banner } from '../server/banner.ts';
import type { ApiTokenStore } from '../server/grants/api-token-store.ts';
import { ApiTokenIssuer, type PendingToken } from '../server/tokens/token-issuer.ts';
import { CookieBrowser, signIn } from './helpers/harness.ts';
import { problemsOf } from './helpers/config-problems.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';

// With the memory store a restart ends sessions AND API tokens: a pipeline's 90-day token then
// answers invalid_token with no warning anywhere. Every place that speaks of the store says so.

const secret = 'test-session-secret-that-is-long-enough-0123';
const production = {
  NODE_ENV: 'production',
  GATEHOUSE_PUBLIC_URL: 'https://gatehouse.example.org',
  GATEHOUSE_OIDC_ISSUER: 'https://idp.example.org',
  GATEHOUSE_OIDC_CLIENT_SECRET: 'client-secret',
  GATEHOUSE_SESSION_SECRET: secret,
};
const restartLoses = /a restart ends every session and every API token[\s\S]*GATEHOUSE_STORE=redis/;

describe('the memory store', () => {
  const gatehouse = gatehouseForSuite();

  test('the start banner says a restart ends sessions and API tokens, and names GATEHOUSE_STORE=redis', () => {
    assert.match(banner(gatehouse.gh), restartLoses);
    const redis = loadConfig({ GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: 'redis://127.0.0.1:6379' });
    assert.doesNotMatch(banner({ ...gatehouse.gh, config: redis }), /a restart ends/);
  });

  test("doctor's store line says so too: ✓ in development, ⚠ in production with the fix", async () => {
    const [development] = await checkStore(loadConfig({}));
    assert.equal(development?.status, 'ok');
    assert.match(development!.detail, restartLoses);
    const [inProduction] = await checkStore(loadConfig(production));
    assert.equal(inProduction?.status, 'warn');
    assert.match(inProduction!.detail, /every session and every API token \(so creating API tokens is refused\)/);
    assert.match(inProduction!.fix!, /sessions and API tokens that survive a restart, set GATEHOUSE_STORE=redis/);
  });

  test('/tokens says it above the list', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser);
    const page = (await browser.navigate(`${gatehouse.url}/tokens`)).body;
    assert.match(
      page,
      /id="memory-store-note"[\s\S]*every session\s+<strong>and every API token<\/strong>[\s\S]*GATEHOUSE_STORE=redis/,
    );
  });
});

describe('creating an API token in production on the memory store', () => {
  /** Starts a token as /tokens and device approval do, with only the configuration a refusal reads. */
  function startToken(env: Record<string, string>): Promise<string> {
    const issuer = new ApiTokenIssuer({ config: loadConfig(env) } as AppDeps, {} as ApiTokenStore);
    const pending: PendingToken = {
      request: { name: 'pipeline', days: 90, upstreams: null, readOnly: false },
      sub: 'alice',
    };
    // Anything past the refusal would need a real request, response and IdP: it must not get there.
    return issuer.start({} as never, {} as never, 'api_token', pending, '/tokens');
  }

  test('is refused with 503 api_tokens_need_persistent_store naming both fixes, before the IdP is asked', async () => {
    await assert.rejects(startToken(production), (error: unknown) => {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, 'api_tokens_need_persistent_store');
      assert.equal(error.status, 503);
      assert.match(error.message, /a restart would end every session and API token/);
      assert.match(error.message, /GATEHOUSE_STORE=redis/);
      assert.match(error.message, /GATEHOUSE_API_TOKENS_ON_MEMORY_STORE=accept/);
      return true;
    });
  });

  test('is allowed when the operator accepts it, on Redis, and in development', () => {
    assert.equal(loadConfig(production).apiTokens.refusedOnMemoryStore, true);
    assert.equal(
      loadConfig({ ...production, GATEHOUSE_API_TOKENS_ON_MEMORY_STORE: 'accept' }).apiTokens.refusedOnMemoryStore,
      false,
    );
    assert.equal(
      loadConfig({ ...production, GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: 'rediss://redis.example:6380' })
        .apiTokens.refusedOnMemoryStore,
      false,
    );
    assert.equal(loadConfig({}).apiTokens.refusedOnMemoryStore, false);
    assert.deepEqual(problemsOf({ GATEHOUSE_API_TOKENS_ON_MEMORY_STORE: 'yes' }), [
      'GATEHOUSE_API_TOKENS_ON_MEMORY_STORE must be one of refuse, accept (got "yes")',
    ]);
  });
});
