import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../server/log.ts';
import { randomHandle } from '../server/random.ts';

function linesOf(write: (logger: ReturnType<typeof createLogger>) => void): string[] {
  const lines: string[] = [];
  write(createLogger('debug', (line) => lines.push(line)));
  return lines;
}

test('fields named like secrets are written as [redacted], whatever they hold', () => {
  const [line] = linesOf((log) =>
    log.info('x', { accessToken: 'a', refresh_token: 'b', Authorization: 'c', code: 'd', sub: 'alice' }),
  );
  const fields = JSON.parse(line!) as Record<string, unknown>;
  assert.deepEqual(
    [fields.accessToken, fields.refresh_token, fields.Authorization, fields.code],
    Array(4).fill('[redacted]'),
  );
  assert.equal(fields.sub, 'alice');
});

test('an error message quoting a JWT, a bearer credential or a gh_ API token is logged without them', () => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
  const apiToken = `gh_${randomHandle(32)}`;
  const handle = randomHandle(32);
  const error = new Error(`refused ${jwt}`, { cause: new Error(`token ${apiToken} and Bearer ${handle}`) });
  const [line] = linesOf((log) => log.warn('x', { error }));
  for (const secret of [jwt, apiToken, apiToken.slice(3), handle])
    assert.ok(!line!.includes(secret), `no ${secret.slice(0, 6)}… in ${line}`);
  assert.match(line!, /gh_\[redacted\]/);
});
