import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import type { MemoryStore } from '../server/store/memory-store.ts';
import { gatehouseForSuite } from './helpers/suite-fixture.ts';
import { callSoap, decodeBase64, fault, postSoap, shape, text, texts } from './helpers/soap.ts';

/** Seed 002's envelopes, byte for byte. */
function seed(name: string): string {
  return readFileSync(new URL(`./fixtures/seed-002/${name}.xml`, import.meta.url), 'utf8');
}

/** The seed document puts a blank line between elements; the service writes one element per line. */
function withoutBlankLines(xml: string): string {
  return xml.replace(/\n\n/g, '\n');
}

const seedRequestUrl = 'http://localhost/webstatisica/external_auth/redirect.php';

describe('the seed 002 envelopes', () => {
  const gh = gatehouseForSuite({ GATEHOUSE_SOAP_REDIRECT_URIS: seedRequestUrl });

  test("the seed's SessionServerInfo envelope gets the seed's answer, byte for byte but blank lines", async () => {
    const answer = await postSoap(gh.url, seed('session-server-info.request'));
    assert.equal(answer.status, 200);
    assert.match(answer.contentType, /^text\/xml/);
    assert.equal(answer.body, withoutBlankLines(seed('session-server-info.response')));
  });

  test("the seed's GetExternalLoginRedirectURL envelope gets the seed's structure, an IdP URL and a fresh ContextID", async () => {
    const store = gh.gh.deps.store as MemoryStore;
    const keysBefore = store.size;
    const answer = await postSoap(gh.url, seed('get-external-login-redirect-url.request'));
    assert.equal(answer.status, 200);
    assert.deepEqual(shape(answer.body), shape(seed('get-external-login-redirect-url.response')));
    assert.deepEqual(texts(answer.body, 'RequestURL'), [seedRequestUrl]);
    assert.deepEqual(texts(answer.body, 'SoapTransform'), ['no']);

    const redirect = new URL(decodeBase64(text(answer.body, 'RedirectURL')));
    assert.equal(redirect.origin + redirect.pathname, `${gh.issuer}/auth`);
    assert.equal(redirect.searchParams.get('redirect_uri'), seedRequestUrl);
    assert.equal(redirect.searchParams.get('response_type'), 'code');
    assert.equal(redirect.searchParams.get('code_challenge_method'), 'S256');
    assert.match(redirect.searchParams.get('code_challenge') ?? '', /^[\w-]{43}$/);
    assert.ok((redirect.searchParams.get('state') ?? '').length >= 22);
    assert.ok((redirect.searchParams.get('nonce') ?? '').length >= 22);
    assert.match(
      text(answer.body, 'ContextID'),
      /^\{[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}\}$/,
    );
    // The context, and the first entry of this caller address's list of pending contexts.
    // The context, its address's list, and (first start here) the counts and total of PendingQuota.
    assert.equal(store.size, keysBefore + 4, 'the context is stored server-side');
  });

  test('two GetExternalLoginRedirectURL calls get different ContextIDs and states', async () => {
    const [a, b] = await Promise.all(
      [1, 2].map(() => postSoap(gh.url, seed('get-external-login-redirect-url.request'))),
    );
    assert.notEqual(text(a!.body, 'ContextID'), text(b!.body, 'ContextID'));
    const state = (answer: typeof a) =>
      new URL(decodeBase64(text(answer!.body, 'RedirectURL'))).searchParams.get('state');
    assert.notEqual(state(a), state(b));
  });

  test("the seed's ExternalLogin envelope, whose ContextID this server never issued, gets the seed's Invalid context ID fault", async () => {
    const answer = await postSoap(gh.url, seed('external-login.request'));
    assert.equal(answer.status, 500);
    assert.match(answer.contentType, /^text\/xml/);
    const expected = withoutBlankLines(seed('external-login.fault')).replace(
      '{95654BEB-11F0-491E-A9A2-56CB25B1F487}',
      '{29CF73D1-44AD-4BBD-A0E5-4C5F4328C6A1}',
    );
    assert.equal(answer.body, expected);
  });

  test('a RequestURL that is not registered gets a Client fault and stores no context', async () => {
    const store = gh.gh.deps.store as MemoryStore;
    const keysBefore = store.size;
    const answer = await callSoap(gh.url, 'GetExternalLoginRedirectURL', [
      ['RequestURL', 'https://attacker.example/collect'],
    ]);
    assert.equal(answer.status, 500);
    assert.deepEqual(fault(answer), {
      faultcode: 'Client',
      faultstring: 'RequestURL is not a registered redirect URI.',
    });
    assert.equal(store.size, keysBefore);
  });

  test('GetExternalLoginRedirectURL without RequestURL gets a Client fault naming the parameter', async () => {
    const answer = await callSoap(gh.url, 'GetExternalLoginRedirectURL');
    assert.deepEqual(fault(answer), {
      faultcode: 'Client',
      faultstring: 'GetExternalLoginRedirectURL needs RequestURL.',
    });
  });

  test('an unknown method gets a Client fault', async () => {
    const answer = await callSoap(gh.url, 'DeleteEverything');
    assert.equal(answer.status, 500);
    assert.deepEqual(fault(answer), { faultcode: 'Client', faultstring: 'Unknown method m:DeleteEverything.' });
  });

  test('a known method name in another namespace gets a Client fault', async () => {
    const body = seed('session-server-info.request').replace('xmlns:m="urn:Statistica Server"', 'xmlns:m="urn:other"');
    const answer = await postSoap(gh.url, body);
    assert.equal(fault(answer).faultcode, 'Client');
    assert.match(fault(answer).faultstring, /^Unknown method/);
  });

  test('a SOAPAction header that names the method in the Body, or is empty, is accepted', async () => {
    for (const action of [
      '"urn:Statistica Server#SessionServerInfo"',
      'SessionServerInfo',
      '"http://example.org/Session/SessionServerInfo"',
      '""',
    ]) {
      const answer = await postSoap(gh.url, seed('session-server-info.request'), { soapaction: action });
      assert.equal(answer.status, 200, action);
    }
  });

  test('a SOAPAction header that names another method gets a Client fault and runs nothing', async () => {
    const store = gh.gh.deps.store as MemoryStore;
    const keysBefore = store.size;
    const answer = await postSoap(gh.url, seed('get-external-login-redirect-url.request'), {
      soapaction: '"urn:Statistica Server#SessionServerInfo"',
    });
    assert.deepEqual(fault(answer), {
      faultcode: 'Client',
      faultstring: 'SOAPAction does not name the method in the Body (GetExternalLoginRedirectURL).',
    });
    assert.equal(store.size, keysBefore);
  });

  test('a body that is not sent as text/xml gets a Client fault', async () => {
    const answer = await postSoap(gh.url, seed('session-server-info.request'), { 'content-type': 'text/plain' });
    assert.equal(answer.status, 500);
    assert.deepEqual(fault(answer), { faultcode: 'Client', faultstring: 'Content-Type must be text/xml.' });
  });

  test('Logout with an IdentityToken this server never issued gets a Client fault', async () => {
    const answer = await callSoap(gh.url, 'Logout', [['IdentityToken', 'made-up-token']]);
    assert.deepEqual(fault(answer), { faultcode: 'Client', faultstring: 'Invalid or ended IdentityToken.' });
  });

  test('GET /Session without ?wsdl gets 405 with Allow, not a fault', async () => {
    const response = await fetch(`${gh.url}/Session`, { headers: { accept: 'application/json' } });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'GET, POST');
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await response.json()) as { error: string }).error, 'method_not_allowed');
  });

  test('PUT, DELETE and PATCH on /Session get 405 with Allow, not a fault', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const response = await fetch(`${gh.url}/Session`, {
        method,
        headers: { 'content-type': 'text/xml' },
        body: seed('session-server-info.request'),
      });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get('allow'), 'GET, POST', method);
      assert.doesNotMatch(await response.text(), /Fault/, method);
    }
  });

  test('GET /Session?wsdl describes the four operations, RPC/encoded in the seed namespace, at this server', async () => {
    const response = await fetch(`${gh.url}/Session?wsdl`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/xml/);
    const wsdl = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '',
      isArray: (name) => ['message', 'part', 'operation'].includes(name),
    }).parse(await response.text()) as { definitions: Record<string, any> };
    const definitions = wsdl.definitions;
    assert.equal(definitions.targetNamespace, 'urn:Statistica Server');
    const operations = ['SessionServerInfo', 'GetExternalLoginRedirectURL', 'ExternalLogin', 'Logout'];
    assert.deepEqual(
      definitions.portType.operation.map((o: { name: string }) => o.name),
      operations,
    );
    assert.equal(definitions.binding['soap:binding'].style, 'rpc');
    for (const operation of definitions.binding.operation) {
      assert.equal(operation.input['soap:body'].use, 'encoded');
      assert.equal(operation.input['soap:body'].namespace, 'urn:Statistica Server');
      assert.equal(operation['soap:operation'].soapAction, `urn:Statistica Server#${operation.name}`);
    }
    const parts = (name: string) =>
      definitions.message.find((m: { name: string }) => m.name === name).part.map((p: { name: string }) => p.name);
    assert.deepEqual(parts('ExternalLoginRequest'), ['SoapTransform', 'Code', 'State', 'ContextID']);
    assert.deepEqual(parts('ExternalLoginResponse'), ['IdentityToken', 'SWS_WSID', 'SignOutURL', 'XMLDATA']);
    assert.deepEqual(parts('GetExternalLoginRedirectURLRequest'), ['SoapTransform', 'RequestURL']);
    assert.deepEqual(parts('SessionServerInfoResponse'), ['ExternalAuth', 'BypassLoginPage', 'XMLDATA']);
    assert.equal(definitions.service.port['soap:address'].location, `${gh.url}/Session`);
  });
});

describe('with external authentication disabled', () => {
  const gh = gatehouseForSuite({ GATEHOUSE_EXTERNAL_AUTH: 'disabled' });

  test('SessionServerInfo says ExternalAuth disabled', async () => {
    const answer = await postSoap(gh.url, seed('session-server-info.request'));
    assert.equal(answer.status, 200);
    assert.equal(text(answer.body, 'ExternalAuth'), 'disabled');
    assert.equal(text(answer.body, 'BypassLoginPage'), 'disabled');
  });

  test('GetExternalLoginRedirectURL gets a Client fault saying so and stores no context', async () => {
    const store = gh.gh.deps.store as MemoryStore;
    const keysBefore = store.size;
    const answer = await callSoap(gh.url, 'GetExternalLoginRedirectURL', [
      ['RequestURL', `${gh.url}/external/callback`],
    ]);
    assert.deepEqual(fault(answer), {
      faultcode: 'Client',
      faultstring: 'External authentication is disabled on this server.',
    });
    assert.equal(store.size, keysBefore);
  });
});

describe('with BypassLoginPage enabled', () => {
  const gh = gatehouseForSuite({ GATEHOUSE_BYPASS_LOGIN_PAGE: 'enabled' });

  test('SessionServerInfo says BypassLoginPage enabled', async () => {
    const answer = await postSoap(gh.url, seed('session-server-info.request'));
    assert.equal(text(answer.body, 'ExternalAuth'), 'enabled');
    assert.equal(text(answer.body, 'BypassLoginPage'), 'enabled');
  });
});
