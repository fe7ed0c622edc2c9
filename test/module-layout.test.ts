// app.ts only composes: the modules it mounts take their shared types from deps.ts, never from
// app.ts, so there is no import cycle between app.ts and the features.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

const server = new URL('../server/', import.meta.url);

test('no server module but main.ts imports app.ts', () => {
  const files = readdirSync(server, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
  assert.ok(files.length > 50);
  const importers = files
    .filter((file) => file !== 'main.ts' && file !== 'app.ts')
    .filter((file) => /from\s+'(?:\.\.?\/)+app\.ts'/.test(readFileSync(new URL(file, server), 'utf8')));
  assert.deepEqual(importers, []);
});
