import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfig } from '../server/config.ts';
import { writeApisFile } from './helpers/apis-file.ts';
import { problemsOf } from './helpers/config-problems.ts';

const base = { NODE_ENV: 'test', GATEHOUSE_SESSION_SECRET: 'test-session-secret-that-is-long-enough-0123' };

/** The problems with `env` over a valid base; this file's cases all have some. */
function registryProblems(env: Record<string, string>): string[] {
  const problems = problemsOf({ ...base, ...env });
  assert.notDeepEqual(problems, [], 'the configuration was accepted');
  return problems;
}

test('a registry with several mistakes reports every one of them at once, with the other configuration problems', () => {
  const file = writeApisFile([
    { name: 'Bad Name', url: 'http://127.0.0.1:1', token: 'user' },
    { name: 'nourl', token: 'user' },
    { name: 'badtoken', url: 'http://127.0.0.1:1', token: 'admin' },
    { name: 'typo', url: 'http://127.0.0.1:1', token: 'user', audiance: 'renku' },
    { name: 'key', url: 'http://127.0.0.1:1', token: 'none', headers: { 'X-Dataverse-key': { env: 'UNSET_API_KEY' } } },
    {
      name: 'smuggle',
      url: 'http://127.0.0.1:1',
      token: 'user',
      headers: { Authorization: 'Basic eA==', 'X-Forwarded-For': '1.2.3.4' },
    },
    { name: 'dup', url: 'http://127.0.0.1:1', token: 'user' },
    { name: 'dup', url: 'http://127.0.0.1:2', token: 'user' },
    {
      name: 'query',
      url: 'http://user:pw@127.0.0.1:1/x?y=1',
      token: 'user',
      methods: ['GET', 'CONNECT'],
      timeoutMs: 5,
    },
    { name: 'noneaud', url: 'http://127.0.0.1:1', token: 'none', audience: 'renku' },
    { name: 'res', url: 'http://127.0.0.1:1', token: 'user', resource: 'not a uri' },
  ]);
  const problems = registryProblems({
    GATEHOUSE_APIS: file,
    GATEHOUSE_PROXY_MAX_BODY: 'lots',
    GATEHOUSE_TOKEN_REFRESH_SKEW: '-5',
  });
  const expected = [
    /upstream "Bad Name" "name" must be 1–63 lower-case/,
    /upstream "nourl" "url" is required/,
    /upstream "badtoken" "token" must be "user", "client" or "none"/,
    /upstream "typo" has an unknown member "audiance"/,
    /upstream "key" header "X-Dataverse-key" reads the environment variable UNSET_API_KEY, which is not set/,
    /upstream "smuggle" header "Authorization" is set by Gatehouse/,
    /upstream "smuggle" header "X-Forwarded-For" is set by Gatehouse/,
    /upstream "dup" is declared twice/,
    /upstream "query" "url" must not have a query/,
    /upstream "query" "url" must not carry credentials/,
    /upstream "query" "methods" must be a non-empty list/,
    /upstream "query" "timeoutMs" must be a whole number/,
    /upstream "noneaud" has "token": "none"/,
    /upstream "res" "resource" must be an absolute URI/,
    /GATEHOUSE_PROXY_MAX_BODY must be a whole number/,
    /GATEHOUSE_TOKEN_REFRESH_SKEW must be a whole number/,
  ];
  for (const pattern of expected)
    assert.ok(
      problems.some((p) => pattern.test(p)),
      `missing: ${pattern}\n${problems.join('\n')}`,
    );
  assert.ok(
    problems.every((p) => !p.includes('Basic eA==')),
    'a header value was echoed',
  );
  assert.ok(
    problems.filter((p) => p.startsWith('GATEHOUSE_APIS')).every((p) => p.includes(file)),
    'problems name the file',
  );
});

test('header values named by {"env": …} are read from the environment the config loader was given, and the rest gets defaults', () => {
  const file = writeApisFile([
    {
      name: 'dataverse',
      url: 'https://dataverse.example/api/',
      token: 'none',
      headers: { 'X-Dataverse-key': { env: 'DATAVERSE_API_KEY' }, Accept: 'application/json' },
    },
    {
      name: 'renku',
      url: 'https://renku.example/api',
      token: 'user',
      audience: 'renku',
      scopes: ['openid', 'renku'],
      methods: ['get', 'post'],
      timeoutMs: 5000,
    },
  ]);
  const config = loadConfig({ ...base, GATEHOUSE_APIS: file, DATAVERSE_API_KEY: ' dv-secret-key ' });
  assert.deepEqual(config.proxy.upstreams, [
    {
      name: 'dataverse',
      url: 'https://dataverse.example/api',
      token: 'none',
      timeoutMs: 30_000,
      headers: { 'x-dataverse-key': 'dv-secret-key', accept: 'application/json' },
    },
    {
      name: 'renku',
      url: 'https://renku.example/api',
      token: 'user',
      audience: 'renku',
      scope: 'openid renku',
      methods: ['GET', 'POST'],
      timeoutMs: 5000,
      headers: {},
    },
  ]);
  assert.equal(config.proxy.maxBodyBytes, 10 * 1024 * 1024);
  assert.equal(config.proxy.refreshSkewMs, 60_000);
});

test('a missing file, invalid JSON or the wrong shape are configuration errors naming GATEHOUSE_APIS', () => {
  assert.match(
    registryProblems({ GATEHOUSE_APIS: '/nonexistent/apis.json' }).join('\n'),
    /GATEHOUSE_APIS \(\/nonexistent\/apis.json\): file not found/,
  );
  const broken = writeApisFile([]);
  writeFileSync(broken, '{"upstreams": [');
  assert.match(registryProblems({ GATEHOUSE_APIS: broken }).join('\n'), /GATEHOUSE_APIS .*not valid JSON/);
  assert.match(
    registryProblems({ GATEHOUSE_APIS: writeApisFile({ renku: {} }) }).join('\n'),
    /must be an object with an "upstreams" array/,
  );
});

test('without GATEHOUSE_APIS the registry is left to start(): undefined, not empty', () => {
  assert.equal(loadConfig(base).proxy.upstreams, undefined);
});

test('invalid JSON in the APIs file is placed by line and column, not by character position', () => {
  const broken = writeApisFile([]);
  writeFileSync(broken, '{\n  "upstreams": [\n    { "name": "renku" "url": "https://renku.example" }\n  ]\n}\n');
  const problem = registryProblems({ GATEHOUSE_APIS: broken }).join('\n');
  assert.match(problem, /not valid JSON \(Expected ',' or '}' after property value at line 3, column 23\)/);
  assert.doesNotMatch(problem, /position/);
  writeFileSync(broken, '{"upstreams": [\n');
  assert.match(
    registryProblems({ GATEHOUSE_APIS: broken }).join('\n'),
    /not valid JSON \(Unexpected end of input at line 2, column 1\)/,
  );
});

test('"example" names a path that answers for a signed-in user; anything that is not a plain path is refused', () => {
  const upstream = { name: 'renku', url: 'https://renku.example/api/data', token: 'user', audience: 'renku' };
  const config = loadConfig({ ...base, GATEHOUSE_APIS: writeApisFile([{ ...upstream, example: '/projects?page=1' }]) });
  assert.equal(config.proxy.upstreams?.[0]?.example, '/projects?page=1');
  for (const example of ['user', '//evil.example/x', '/a/../b', '/a b', "/it's", '/x#y', 'https://x/', 7]) {
    assert.match(
      registryProblems({ GATEHOUSE_APIS: writeApisFile([{ ...upstream, example }]) }).join('\n'),
      /upstream "renku" "example" must be a path starting with "\/"/,
      JSON.stringify(example),
    );
  }
});
