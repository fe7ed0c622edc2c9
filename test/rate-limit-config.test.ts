import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../server/config.ts';
import { addressKey } from '../server/http/rate-limits.ts';

describe('rate-limit and trusted-proxy settings', () => {
  test('GATEHOUSE_TRUST_PROXY is a hop count or a list of addresses and CIDRs, loopback by default; a typo in it or in a limit is a start-up error', () => {
    const base = { NODE_ENV: 'test' };
    assert.deepEqual(loadConfig(base).trustProxy, ['loopback']);
    assert.equal(loadConfig({ ...base, GATEHOUSE_TRUST_PROXY: '2' }).trustProxy, 2);
    assert.deepEqual(loadConfig({ ...base, GATEHOUSE_TRUST_PROXY: '10.0.0.0/8, fd00::1, loopback' }).trustProxy, [
      '10.0.0.0/8',
      'fd00::1',
      'loopback',
    ]);
    assert.throws(
      () => loadConfig({ ...base, GATEHOUSE_TRUST_PROXY: '10.0.0.0/33,lb.example' }),
      /GATEHOUSE_TRUST_PROXY must be a hop count/,
    );
    assert.throws(
      () => loadConfig({ ...base, GATEHOUSE_RATE_LIMIT_LOGIN: '30 per minute' }),
      /GATEHOUSE_RATE_LIMIT_LOGIN must be <count>\/<seconds>/,
    );
    assert.equal(loadConfig({ ...base, GATEHOUSE_RATE_LIMIT_LOGIN: 'off' }).rateLimits.login, undefined);
    assert.deepEqual(loadConfig(base).rateLimits.failedCredentials, { points: 20, durationSeconds: 300 });
  });

  test('IPv6 clients are counted by their /64, IPv4-mapped ones as IPv4', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
  });

  test('an address forwarded with a port, or in brackets, is counted without them', () => {
    assert.equal(addressKey('203.0.113.7:5678'), '203.0.113.7');
    assert.equal(addressKey('203.0.113.7:1234'), addressKey('203.0.113.7:5678'));
    assert.equal(addressKey('[2001:db8:1:2::1]:443'), '2001:db8:1:2::/64');
    assert.equal(addressKey('[2001:db8:1:2::1]'), '2001:db8:1:2::/64');
    assert.equal(addressKey('[::ffff:203.0.113.7]:80'), '203.0.113.7');
  });
});
