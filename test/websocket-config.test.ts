import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../server/config.ts';
import { writeApisFile } from './helpers/apis-file.ts';
import { problemsOf } from './helpers/config-problems.ts';

const base = { NODE_ENV: 'test', GATEHOUSE_SESSION_SECRET: 'test-session-secret-that-is-long-enough-0123' };

test('"websocket" in the APIs file: true, false or an object of known options, each checked, every problem reported', () => {
  const file = writeApisFile([
    { name: 'yes', url: 'http://127.0.0.1:1', token: 'user', websocket: true },
    { name: 'no', url: 'http://127.0.0.1:1', token: 'user', websocket: false },
    {
      name: 'tuned',
      url: 'http://127.0.0.1:1',
      token: 'user',
      websocket: { readOnlyTokens: true, maxLifetimeMs: 3_600_000 },
    },
    { name: 'word', url: 'http://127.0.0.1:1', token: 'user', websocket: 'yes' },
    { name: 'typo', url: 'http://127.0.0.1:1', token: 'user', websocket: { readonlyTokens: true } },
    { name: 'short', url: 'http://127.0.0.1:1', token: 'user', websocket: { maxLifetimeMs: 10 } },
  ]);
  const problems = problemsOf({ ...base, GATEHOUSE_APIS: file, GATEHOUSE_WS_SESSION_CHECK_MS: '5000' });
  assert.deepEqual(
    problems.filter((problem) => problem.includes('websocket') || problem.includes('GATEHOUSE_WS')),
    [
      `GATEHOUSE_APIS (${file}): upstream "word" "websocket" must be true, false or an object such as {"readOnlyTokens": true, "maxLifetimeMs": 3600000} (got "yes")`,
      `GATEHOUSE_APIS (${file}): upstream "typo" "websocket" has an unknown member "readonlyTokens" (known: readOnlyTokens, maxLifetimeMs)`,
      `GATEHOUSE_APIS (${file}): upstream "short" "websocket.maxLifetimeMs" must be a whole number from 1000 to 604800000 (got 10)`,
      'GATEHOUSE_WS_SESSION_CHECK_MS must be a whole number from 100 to 1500 (got "5000")',
    ],
  );
});

test('valid WebSocket settings are read into the upstreams and the configuration', () => {
  const file = writeApisFile([
    { name: 'yes', url: 'http://127.0.0.1:1', token: 'user', websocket: true },
    { name: 'no', url: 'http://127.0.0.1:1', token: 'user', websocket: false },
    {
      name: 'tuned',
      url: 'http://127.0.0.1:1',
      token: 'user',
      websocket: { readOnlyTokens: true, maxLifetimeMs: 60_000 },
    },
  ]);
  const config = loadConfig({ ...base, GATEHOUSE_APIS: file, GATEHOUSE_WS_IDLE: '30' });
  const byName = Object.fromEntries(config.proxy.upstreams!.map((upstream) => [upstream.name, upstream.websocket]));
  assert.deepEqual(byName, {
    yes: { readOnlyTokens: false },
    no: undefined,
    tuned: { readOnlyTokens: true, maxLifetimeMs: 60_000 },
  });
  assert.deepEqual(config.websocket, {
    maxPerSession: 10,
    maxPerInstance: 1000,
    idleMs: 30_000,
    sessionCheckMs: 1000,
    maxMessageBytes: 1_048_576,
  });
});
