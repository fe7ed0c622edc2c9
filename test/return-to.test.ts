import assert from 'node:assert/strict';
import { test } from 'node:test';
import { safeReturnTo } from '../server/auth/return-to.ts';

test('local paths with query and hash are kept as they are', () => {
  assert.equal(safeReturnTo('/connector?step=2#files'), '/connector?step=2#files');
  assert.equal(safeReturnTo('/a/b/../c'), '/a/c');
});

for (const hostile of [
  '//evil.example',
  'https://evil.example',
  '/\\evil.example',
  'evil.example',
  '',
  '/.//evil.example/x',
  '/a/..//evil.example',
  '/%2e//evil.example',
  '/%2E/%2E//evil.example',
  '/./\\evil.example',
]) {
  test(`returnTo ${JSON.stringify(hostile)} falls back to / because a browser would leave the site`, () => {
    assert.equal(safeReturnTo(hostile), '/');
  });
}

test('anything but a string falls back to /', () => {
  assert.equal(safeReturnTo(['/a', '/b']), '/');
  assert.equal(safeReturnTo(undefined), '/');
});
