import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TransactionSeal, transactionSealKey } from '../server/auth/transaction-seal.ts';

const older = 'an-older-session-secret-that-is-long-enough-0';
const newer = 'the-newest-session-secret-that-is-long-enough';

describe('the login transaction seal', () => {
  test('opens what it sealed, for the same cookie name only', () => {
    const seal = new TransactionSeal([newer]);
    const sealed = seal.seal('{"state":"s"}', 'gatehouse-login-abc');
    assert.equal(seal.open(sealed, 'gatehouse-login-abc'), '{"state":"s"}');
    assert.equal(seal.open(sealed, 'gatehouse-login-xyz'), undefined);
  });

  test('refuses an altered, truncated or foreign value without throwing', () => {
    const seal = new TransactionSeal([newer]);
    const sealed = seal.seal('{"state":"s"}', 'n');
    const raw = Buffer.from(sealed, 'base64url');
    raw[raw.length - 1]! ^= 1;
    assert.equal(seal.open(raw.toString('base64url'), 'n'), undefined);
    assert.equal(seal.open(sealed.slice(0, 20), 'n'), undefined);
    assert.equal(seal.open('not base64 at all!', 'n'), undefined);
    assert.equal(new TransactionSeal([older]).open(sealed, 'n'), undefined);
  });

  test('after a rotation (secrets newest first) it seals with the newest and still opens what the older one sealed', () => {
    const before = new TransactionSeal([older]).seal('started before', 'n');
    const rotated = new TransactionSeal([newer, older]);
    assert.equal(rotated.open(before, 'n'), 'started before');
    assert.equal(new TransactionSeal([newer]).open(rotated.seal('after', 'n'), 'n'), 'after');
  });

  test('its key is not the bytes of the secret, and differs per secret', () => {
    assert.notDeepEqual(transactionSealKey(newer), transactionSealKey(older));
    assert.notDeepEqual(transactionSealKey(newer), Buffer.from(newer).subarray(0, 32));
  });
});
