import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../server/config.ts';
import { problemsOf } from './helpers/config-problems.ts';

const production = {
  NODE_ENV: 'production',
  GATEHOUSE_PUBLIC_URL: 'https://gatehouse.example',
  GATEHOUSE_OIDC_ISSUER: 'https://idp.example/realms/x',
  GATEHOUSE_OIDC_CLIENT_SECRET: 'secret',
  GATEHOUSE_SESSION_SECRET: 'x'.repeat(32),
};

describe('SOAP external login configuration', () => {
  test('by default external auth is on, the login page is not bypassed, and the SOAP server is this Gatehouse', () => {
    const { soap } = loadConfig({ GATEHOUSE_PUBLIC_URL: 'https://gatehouse.example/base/' });
    assert.deepEqual(soap, {
      externalAuth: true,
      bypassLoginPage: false,
      redirectUris: ['https://gatehouse.example/base/external/callback'],
      url: 'https://gatehouse.example/base/Session',
    });
  });

  test('configured values are read, the redirect URIs as a comma-separated list', () => {
    const { soap } = loadConfig({
      GATEHOUSE_EXTERNAL_AUTH: 'enabled',
      GATEHOUSE_BYPASS_LOGIN_PAGE: 'enabled',
      GATEHOUSE_SOAP_REDIRECT_URIS:
        ' http://localhost/webstatistica/redirect.php , http://localhost:3000/external/callback ',
      GATEHOUSE_SOAP_URL: 'http://livescore.internal:8081/Session',
    });
    assert.deepEqual(soap, {
      externalAuth: true,
      bypassLoginPage: true,
      redirectUris: ['http://localhost/webstatistica/redirect.php', 'http://localhost:3000/external/callback'],
      url: 'http://livescore.internal:8081/Session',
    });
  });

  test("Gatehouse's own /external/callback stays accepted when other RequestURLs are configured", () => {
    const { soap } = loadConfig({
      GATEHOUSE_PUBLIC_URL: 'http://localhost:4000',
      GATEHOUSE_SOAP_REDIRECT_URIS: 'http://localhost/webstatistica/redirect.php',
    });
    assert.deepEqual(soap.redirectUris, [
      'http://localhost/webstatistica/redirect.php',
      'http://localhost:4000/external/callback',
    ]);
  });

  test('every SOAP problem is reported, naming its variable', () => {
    const problems = problemsOf({
      GATEHOUSE_EXTERNAL_AUTH: 'yes',
      GATEHOUSE_BYPASS_LOGIN_PAGE: 'maybe',
      GATEHOUSE_SOAP_REDIRECT_URIS:
        'http://ok.example/cb,http://q.example/cb?x=1,ftp://f.example/cb,http://h.example/cb#frag,nonsense',
      GATEHOUSE_SOAP_URL: 'not a url',
    });
    assert.deepEqual(problems, [
      'GATEHOUSE_EXTERNAL_AUTH must be one of enabled, disabled (got "yes")',
      'GATEHOUSE_BYPASS_LOGIN_PAGE must be one of enabled, disabled (got "maybe")',
      'GATEHOUSE_SOAP_REDIRECT_URIS must not have a query (got "http://q.example/cb?x=1")',
      'GATEHOUSE_SOAP_REDIRECT_URIS must hold http(s) URLs (got "ftp://f.example/cb")',
      'GATEHOUSE_SOAP_REDIRECT_URIS must not have a fragment (got "http://h.example/cb#frag")',
      'GATEHOUSE_SOAP_REDIRECT_URIS must hold absolute http(s) URLs (got "nonsense")',
      'GATEHOUSE_SOAP_URL must hold absolute http(s) URLs (got "not a url")',
    ]);
  });

  test('bypassing the login page without external auth is refused: there would be no way in', () => {
    assert.deepEqual(problemsOf({ GATEHOUSE_EXTERNAL_AUTH: 'disabled', GATEHOUSE_BYPASS_LOGIN_PAGE: 'enabled' }), [
      'GATEHOUSE_BYPASS_LOGIN_PAGE=enabled needs GATEHOUSE_EXTERNAL_AUTH=enabled (there would be no way to sign in)',
    ]);
  });

  test('production wants https, except for a SOAP URL on loopback', () => {
    assert.deepEqual(
      problemsOf({ ...production, GATEHOUSE_SOAP_REDIRECT_URIS: 'http://webstatistica.example/redirect.php' }),
      ['GATEHOUSE_SOAP_REDIRECT_URIS must use https in production (got "http://webstatistica.example/redirect.php")'],
    );
    assert.deepEqual(problemsOf({ ...production, GATEHOUSE_SOAP_URL: 'http://livescore.example/Session' }), [
      'GATEHOUSE_SOAP_URL must use https in production (got "http://livescore.example/Session")',
    ]);
    assert.deepEqual(problemsOf({ ...production, GATEHOUSE_SOAP_URL: 'http://127.0.0.1:3000/Session' }), []);
  });

  test('a bad public URL is reported once, not again through the SOAP defaults derived from it', () => {
    const problems = problemsOf({ GATEHOUSE_PUBLIC_URL: 'not a url' });
    assert.equal(problems.length, 1, problems.join('\n'));
  });
});
