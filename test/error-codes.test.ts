// One catalogue of error codes: each code has one status, and every code the pages and the
// API documentation name is in it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorStatus, isErrorCode } from '../server/error-codes.ts';
import { AppError } from '../server/errors.ts';
import { toAppError } from '../server/error-handler.ts';

const root = new URL('..', import.meta.url);

/** The codes a browser module switches on: `….code === '…'` and the cases of a `switch (….code)`. */
function codesInBrowserModule(source: string): string[] {
  const codes = [...source.matchAll(/(?<!typeof\s+[\w?.]+)\bcode\s*===\s*'([a-z_]+)'/g)].map((match) => match[1]!);
  // A switch's cases, up to its `default:` (every such switch in public/js has one).
  for (const block of source.matchAll(/switch\s*\([\w.]*\bcode\)\s*\{([\s\S]*?)\bdefault\s*:/g)) {
    codes.push(...[...block[1]!.matchAll(/case\s+'([a-z_]+)'\s*:/g)].map((match) => match[1]!));
  }
  return codes;
}

test('every error code a browser module switches on is in the catalogue', () => {
  const dir = new URL('public/js/', root);
  const named = readdirSync(dir)
    .filter((file) => file.endsWith('.js'))
    .flatMap((file) => codesInBrowserModule(readFileSync(new URL(file, dir), 'utf8')).map((code) => ({ file, code })));
  assert.ok(
    named.some(({ code }) => code === 'session_expired') &&
      named.some(({ code }) => code === 'audience_mismatch') &&
      named.some(({ code }) => code === 'token_refresh_busy'),
    'the scan finds the codes connector-errors.js switches on',
  );
  assert.deepEqual(
    named.filter(({ code }) => !isErrorCode(code)),
    [],
  );
});

test('every error code docs/apis.md names with a status is in the catalogue with that status', () => {
  const text = readFileSync(new URL('docs/apis.md', root), 'utf8');
  const named = [...text.matchAll(/\b([1-5]\d\d) `([a-z]+(?:_[a-z]+)*)`/g)].map((match) => ({
    status: Number(match[1]),
    code: match[2]!,
  }));
  assert.ok(named.length >= 15, `the scan finds the refusals table (found ${named.length})`);
  const wrong = named.filter(({ status, code }) => (errorStatus as Record<string, number>)[code] !== status);
  assert.deepEqual(wrong, []);
});

test('an AppError takes its status from the catalogue, so a code cannot have two', () => {
  assert.equal(new AppError('invalid_grant', 'x').status, 400);
  assert.equal(new AppError('session_expired', 'x').status, 401);
  assert.equal(new AppError('upstream_timeout', 'x').status, 504);
  assert.equal(new AppError('rate_limited', 'x').status, 429);
});

test('a framework error keeps its status only under a code the catalogue gives that status', () => {
  assert.deepEqual(pick(toAppError({ status: 400, type: 'entity.parse.failed' })), {
    status: 400,
    code: 'entity_parse_failed',
  });
  assert.deepEqual(pick(toAppError({ status: 415, type: 'charset.unsupported' })), {
    status: 415,
    code: 'charset_unsupported',
  });
  assert.deepEqual(pick(toAppError({ status: 413, type: 'parameters.too.many' })), {
    status: 413,
    code: 'payload_too_large',
  });
  assert.deepEqual(pick(toAppError({ status: 400 })), { status: 400, code: 'bad_request' });
  assert.deepEqual(pick(toAppError(new Error('boom'))), { status: 500, code: 'internal_error' });
});

function pick(error: AppError): { status: number; code: string } {
  return { status: error.status, code: error.code };
}
