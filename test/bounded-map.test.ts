import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setBounded } from '../server/bounded-map.ts';

test('a full bounded cache drops its oldest entry, and setting a key again makes it the newest', () => {
  const cache = new Map<string, number>();
  setBounded(cache, 'a', 1, 2);
  setBounded(cache, 'b', 2, 2);
  setBounded(cache, 'a', 3, 2);
  setBounded(cache, 'c', 4, 2);
  assert.deepEqual(
    [...cache],
    [
      ['a', 3],
      ['c', 4],
    ],
  );
});
