import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { envelopeLimits } from '../server/soap/parse-envelope.ts';
import type { MemoryStore } from '../server/store/memory-store.ts';
import { startGatehouse, type TestGatehouse } from './helpers/harness.ts';
import { declarationFlood } from './helpers/hostile-envelopes.ts';
import { callEnvelope, callSoap, fault, postSoap, text } from './helpers/soap.ts';

const soap11 = 'http://schemas.xmlsoap.org/soap/envelope/';

/**
 * A GetExternalLoginRedirectURL call with `inner` in place of its parameters. Were it executed,
 * it would store a login context, which is how these tests see that nothing ran.
 */
function redirectCall(inner: string, envelopeNs = soap11): string {
  return (
    `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${envelopeNs}"><SOAP-ENV:Body>` +
    `<m:GetExternalLoginRedirectURL xmlns:m="urn:Statistica Server">${inner}</m:GetExternalLoginRedirectURL>` +
    '</SOAP-ENV:Body></SOAP-ENV:Envelope>'
  );
}

const malformed = { faultcode: 'Client', faultstring: 'The request is not well-formed XML.' };

/**
 * A SessionServerInfo call padded in a header entry (ignored: no mustUnderstand) to exactly
 * `elements` elements, one element with `attributes` attributes, and `declarations` namespace
 * declarations in all.
 */
function paddedCall({
  elements,
  attributes,
  declarations,
}: {
  elements: number;
  attributes: number;
  declarations: number;
}): string {
  // Envelope, Header, Filler, Body, call and SoapTransform are 6 elements; SOAP-ENV, m and h 3 declarations.
  const fillers = elements - 6;
  const extraDeclarations = declarations - 3;
  if (extraDeclarations > fillers) throw new Error('not enough elements to carry the declarations');
  const fillerAttributes = Array.from({ length: attributes - 1 }, (_, i) => ` a${i}="v"`).join('');
  const padding = Array.from({ length: fillers }, (_, i) =>
    i < extraDeclarations ? `<h:e xmlns:d${i}="urn:d${i}"/>` : '<h:e/>',
  ).join('');
  return (
    `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${soap11}"><SOAP-ENV:Header><h:Filler xmlns:h="urn:h"${fillerAttributes}>${padding}</h:Filler></SOAP-ENV:Header>` +
    '<SOAP-ENV:Body><m:SessionServerInfo xmlns:m="urn:Statistica Server"><SoapTransform>no</SoapTransform></m:SessionServerInfo></SOAP-ENV:Body></SOAP-ENV:Envelope>'
  );
}

const atLimits = {
  elements: envelopeLimits.maxElements,
  attributes: envelopeLimits.maxAttributes,
  declarations: envelopeLimits.maxNamespaceDeclarations,
};

/** `text` as UTF-8 with `bytes` in place of the marker `@`. */
function withRawBytes(text: string, bytes: number[]): Uint8Array {
  const [before, after] = text.split('@') as [string, string];
  return Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);
}

interface HostileCase {
  name: string;
  body: (requestUrl: string) => string | Uint8Array;
  headers?: Record<string, string>;
  expected: { faultcode: string; faultstring: string };
}

const cases: HostileCase[] = [
  { name: 'mismatched tags', body: (u) => redirectCall(`<RequestURL>${u}</Request>`), expected: malformed },
  { name: 'an unclosed element', body: (u) => redirectCall(`<RequestURL>${u}`), expected: malformed },
  {
    name: 'a second root element',
    body: (u) => `${redirectCall(`<RequestURL>${u}</RequestURL>`)}<again/>`,
    expected: malformed,
  },
  {
    name: 'text after the root element',
    body: (u) => `${redirectCall(`<RequestURL>${u}</RequestURL>`)}trailing`,
    expected: malformed,
  },
  { name: 'a bare ampersand', body: (u) => redirectCall(`<RequestURL>${u}?a&b</RequestURL>`), expected: malformed },
  { name: 'an undeclared entity', body: () => redirectCall('<RequestURL>&xxe;</RequestURL>'), expected: malformed },
  {
    name: 'a character reference to U+0000',
    body: () => redirectCall('<RequestURL>&#0;</RequestURL>'),
    expected: malformed,
  },
  { name: 'an empty body', body: () => '', expected: malformed },
  {
    name: 'a non-ASCII element name',
    body: (u) => redirectCall(`<RequestURL>${u}</RequestURL><Paramètre>x</Paramètre>`),
    expected: malformed,
  },
  {
    name: 'a DOCTYPE with an internal entity bomb',
    body: (u) =>
      `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>${redirectCall(`<RequestURL>${u}</RequestURL><SoapTransform>&lol2;</SoapTransform>`)}`,
    expected: { faultcode: 'Client', faultstring: 'A DOCTYPE is not allowed in a SOAP message.' },
  },
  {
    name: 'a DOCTYPE with an external entity',
    body: (u) =>
      `<!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${redirectCall(`<RequestURL>${u}</RequestURL><SoapTransform>&xxe;</SoapTransform>`)}`,
    expected: { faultcode: 'Client', faultstring: 'A DOCTYPE is not allowed in a SOAP message.' },
  },
  {
    name: 'a processing instruction before the envelope',
    body: (u) =>
      `<?xml-stylesheet href="http://attacker.example/x.xsl"?>${redirectCall(`<RequestURL>${u}</RequestURL>`)}`,
    expected: { faultcode: 'Client', faultstring: 'Processing instructions are not allowed in a SOAP message.' },
  },
  {
    // The scan once skipped everything up to the first `?>`, so markup hidden in a declaration
    // value reached the parser unchecked.
    name: 'an XML declaration hiding a DOCTYPE in a quoted value',
    body: (u) =>
      `<?xml version="1.0" encoding="<!DOCTYPE e [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"?>${redirectCall(`<RequestURL>${u}</RequestURL>`)}`,
    expected: malformed,
  },
  {
    name: 'an XML declaration with something other than pseudo-attributes',
    body: (u) => `<?xml version="1.0" junk ?>${redirectCall(`<RequestURL>${u}</RequestURL>`)}`,
    expected: malformed,
  },
  {
    name: 'a processing instruction inside a parameter',
    body: (u) => redirectCall(`<RequestURL>${u}<?php system('id'); ?></RequestURL>`),
    expected: { faultcode: 'Client', faultstring: 'Processing instructions are not allowed in a SOAP message.' },
  },
  {
    name: 'a SOAP 1.2 envelope',
    body: (u) => redirectCall(`<RequestURL>${u}</RequestURL>`, 'http://www.w3.org/2003/05/soap-envelope'),
    headers: { 'content-type': 'application/soap+xml; charset=utf-8' },
    expected: { faultcode: 'VersionMismatch', faultstring: 'Only SOAP 1.1 envelopes are supported.' },
  },
  {
    name: "a SOAP 1.1 envelope sent as SOAP 1.2's application/soap+xml",
    body: (u) => redirectCall(`<RequestURL>${u}</RequestURL>`),
    headers: { 'content-type': 'application/soap+xml; charset=utf-8' },
    expected: { faultcode: 'VersionMismatch', faultstring: 'Only SOAP 1.1 envelopes are supported.' },
  },
  {
    name: 'a parameter in a foreign namespace',
    body: (u) => redirectCall(`<x:RequestURL xmlns:x="urn:not-statistica">${u}</x:RequestURL>`),
    expected: { faultcode: 'Client', faultstring: 'Parameter x:RequestURL is in an unknown namespace.' },
  },
  {
    name: 'an unknown envelope namespace',
    body: (u) => redirectCall(`<RequestURL>${u}</RequestURL>`, 'urn:not-soap'),
    expected: { faultcode: 'VersionMismatch', faultstring: 'Only SOAP 1.1 envelopes are supported.' },
  },
  {
    name: 'a body over 64 KiB',
    body: (u) => redirectCall(`<RequestURL>${u}</RequestURL><SoapTransform>${'x'.repeat(64 * 1024)}</SoapTransform>`),
    expected: { faultcode: 'Client', faultstring: 'The request body is larger than 65536 bytes.' },
  },
  {
    name: 'a gzip-compressed body (which could expand past the limit)',
    body: (u) => gzipSync(redirectCall(`<RequestURL>${u}</RequestURL>`)),
    headers: { 'content-encoding': 'gzip' },
    expected: { faultcode: 'Client', faultstring: 'The request could not be read.' },
  },
  {
    name: 'deep nesting',
    body: (u) =>
      redirectCall(
        `<RequestURL>${u}</RequestURL><SoapTransform>${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}</SoapTransform>`,
      ),
    expected: { faultcode: 'Client', faultstring: 'The XML is nested too deeply.' },
  },
  {
    // Envelope, Body, call, parameter and five more: one past the limit of eight, self-closing.
    name: 'a self-closing element one level too deep',
    body: (u) =>
      redirectCall(`<RequestURL>${u}</RequestURL><SoapTransform><a><b><c><d><e/></d></c></b></a></SoapTransform>`),
    expected: { faultcode: 'Client', faultstring: 'The XML is nested too deeply.' },
  },
  {
    name: 'a duplicated parameter',
    body: (u) => redirectCall(`<RequestURL>${u}</RequestURL><RequestURL>https://attacker.example/</RequestURL>`),
    expected: { faultcode: 'Client', faultstring: 'Parameter RequestURL appears more than once.' },
  },
  {
    name: 'a parameter with elements inside',
    body: (u) => redirectCall(`<RequestURL><a>${u}</a></RequestURL>`),
    expected: { faultcode: 'Client', faultstring: 'Parameter RequestURL must be text.' },
  },
  {
    name: 'an element named __proto__',
    body: (u) => redirectCall(`<RequestURL>${u}</RequestURL><__proto__><polluted>yes</polluted></__proto__>`),
    expected: { faultcode: 'Client', faultstring: 'The name "__proto__" is not allowed.' },
  },
  {
    name: 'an element named constructor',
    body: (u) =>
      redirectCall(
        `<RequestURL>${u}</RequestURL><constructor><prototype><polluted>yes</polluted></prototype></constructor>`,
      ),
    expected: { faultcode: 'Client', faultstring: 'The name "constructor" is not allowed.' },
  },
  {
    name: 'an attribute named __proto__',
    body: (u) => redirectCall(`<RequestURL __proto__="yes">${u}</RequestURL>`),
    expected: { faultcode: 'Client', faultstring: 'The name "__proto__" is not allowed.' },
  },
  {
    name: 'a namespace prefix named __proto__',
    body: (u) => redirectCall(`<RequestURL xmlns:__proto__="urn:x">${u}</RequestURL>`),
    expected: { faultcode: 'Client', faultstring: 'The name "xmlns:__proto__" is not allowed.' },
  },
  {
    name: 'an undeclared namespace prefix',
    body: (u) => redirectCall(`<x:RequestURL>${u}</x:RequestURL>`),
    expected: { faultcode: 'Client', faultstring: 'The namespace prefix "x" is not declared.' },
  },
  {
    name: 'a header entry that must be understood',
    body: (u) =>
      redirectCall(`<RequestURL>${u}</RequestURL>`).replace(
        '<SOAP-ENV:Body>',
        '<SOAP-ENV:Header><t:Transaction xmlns:t="urn:x" SOAP-ENV:mustUnderstand="1">5</t:Transaction></SOAP-ENV:Header><SOAP-ENV:Body>',
      ),
    expected: { faultcode: 'MustUnderstand', faultstring: 'Header entry Transaction is not understood.' },
  },
  {
    name: 'two calls in one Body',
    body: (u) =>
      redirectCall(`<RequestURL>${u}</RequestURL>`).replace(
        '</SOAP-ENV:Body>',
        '<m:Logout xmlns:m="urn:Statistica Server"/></SOAP-ENV:Body>',
      ),
    expected: { faultcode: 'Client', faultstring: 'The Body must hold exactly one element.' },
  },
  {
    name: 'one element more than the limit',
    body: () => paddedCall({ ...atLimits, elements: atLimits.elements + 1 }),
    expected: { faultcode: 'Client', faultstring: 'The SOAP message has too many elements.' },
  },
  {
    name: 'an element with one attribute more than the limit',
    body: () => paddedCall({ ...atLimits, attributes: atLimits.attributes + 1 }),
    expected: { faultcode: 'Client', faultstring: 'An element of the SOAP message has too many attributes.' },
  },
  {
    name: 'one namespace declaration more than the limit, spread over elements',
    body: () => paddedCall({ ...atLimits, declarations: atLimits.declarations + 1 }),
    expected: { faultcode: 'Client', faultstring: 'The SOAP message declares too many namespaces.' },
  },
  {
    // Issue 10: each element once paid for a copy of every declaration above it (~1 s per request).
    name: 'thousands of namespace declarations on the Envelope over thousands of elements',
    body: () => declarationFlood(),
    expected: { faultcode: 'Client', faultstring: 'An element of the SOAP message has too many attributes.' },
  },
  {
    name: 'a parameter in invalid UTF-8 (a lead byte without its continuation)',
    body: (u) => withRawBytes(redirectCall(`<RequestURL>${u}?x=@</RequestURL>`), [0xc3, 0x28]),
    expected: { faultcode: 'Client', faultstring: 'The request is not valid UTF-8.' },
  },
  {
    name: 'an overlong UTF-8 encoding of "/"',
    body: (u) => withRawBytes(redirectCall(`<RequestURL>${u}@</RequestURL>`), [0xc0, 0xaf]),
    expected: { faultcode: 'Client', faultstring: 'The request is not valid UTF-8.' },
  },
  {
    name: 'a UTF-16 surrogate encoded in UTF-8',
    body: (u) => withRawBytes(redirectCall(`<RequestURL>${u}@</RequestURL>`), [0xed, 0xa0, 0x80]),
    expected: { faultcode: 'Client', faultstring: 'The request is not valid UTF-8.' },
  },
  {
    name: 'a charset no decoder knows',
    body: (u) => redirectCall(`<RequestURL>${u}</RequestURL>`),
    headers: { 'content-type': 'text/xml; charset=x-made-up' },
    expected: { faultcode: 'Client', faultstring: 'The charset "x-made-up" is not supported; send UTF-8.' },
  },
  {
    name: 'an element that is no envelope',
    body: (u) => `<RequestURL>${u}</RequestURL>`,
    expected: { faultcode: 'Client', faultstring: 'The request is not a SOAP envelope.' },
  },
];

describe('hostile XML at POST /Session', () => {
  let gh: TestGatehouse;
  let requestUrl: string;
  let prototypeBefore: string[];
  before(async () => {
    gh = await startGatehouse();
    requestUrl = `${gh.url}/external/callback`;
    prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  });
  after(() => gh.stop());

  test('the well-formed call these cases spoil is served and stores a context', async () => {
    const store = gh.gh.deps.store as MemoryStore;
    const keysBefore = store.size;
    const answer = await postSoap(gh.url, redirectCall(`<RequestURL>${requestUrl}</RequestURL>`));
    assert.equal(answer.status, 200, answer.body);
    // The context, this caller address's list of pending contexts, and (first start here) the
    // per-address counts and the total that bound pending contexts (PendingQuota).
    assert.equal(store.size, keysBefore + 4);
  });

  test('ordinary XML declarations (quotes of either kind, standalone, a BOM) are accepted', async () => {
    for (const declaration of [
      '<?xml version="1.0"?>',
      `\uFEFF<?xml version='1.0' encoding="UTF-8" standalone='yes' ?>\n`,
    ]) {
      const answer = await postSoap(gh.url, `${declaration}${redirectCall(`<RequestURL>${requestUrl}</RequestURL>`)}`);
      assert.equal(answer.status, 200, `${declaration}: ${answer.body}`);
    }
  });

  test('an envelope at every scan limit (elements, attributes on one element, namespace declarations) is served', async () => {
    const answer = await postSoap(gh.url, paddedCall(atLimits));
    assert.equal(answer.status, 200, answer.body);
  });

  test('a parameter in valid UTF-8 beyond ASCII is served', async () => {
    const answer = await postSoap(
      gh.url,
      callEnvelope('SessionServerInfo', []).replace(
        '<SoapTransform>no</SoapTransform>',
        '<SoapTransform>nö ✓ 𝄞</SoapTransform>',
      ),
    );
    assert.equal(answer.status, 200, answer.body);
    assert.equal(text(answer.body, 'SoapTransform'), 'nö ✓ 𝄞');
  });

  test('an envelope just under 64 KiB is served', async () => {
    const answer = await callSoap(gh.url, 'SessionServerInfo', [['Padding', 'x'.repeat(63 * 1024)]]);
    assert.equal(answer.status, 200);
  });

  for (const hostile of cases) {
    test(`${hostile.name} gets a ${hostile.expected.faultcode} fault, runs nothing and leaves the process unharmed`, async () => {
      const store = gh.gh.deps.store as MemoryStore;
      const keysBefore = store.size;

      const answer = await postSoap(gh.url, hostile.body(requestUrl), hostile.headers);
      assert.equal(answer.status, 500);
      assert.match(answer.contentType, /^text\/xml/);
      assert.deepEqual(fault(answer), hostile.expected);
      assert.doesNotMatch(answer.body, /\bline\b|\bcol\b|at \S+ \(|\.ts:\d+|Error/, 'no parser position, no stack');

      assert.equal(store.size, keysBefore, 'no login context was stored');
      assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeBefore);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      const info = await callSoap(gh.url, 'SessionServerInfo');
      assert.equal(text(info.body, 'ExternalAuth'), 'enabled', 'the service still answers');
    });
  }

  test('the text of parameters keeps entities and CDATA as data, never as markup', async () => {
    const answer = await postSoap(
      gh.url,
      callEnvelope('SessionServerInfo', []).replace(
        '<SoapTransform>no</SoapTransform>',
        '<SoapTransform>&lt;b&gt; &amp; &#x41;<![CDATA[<i>&amp;</i>]]></SoapTransform>',
      ),
    );
    assert.equal(answer.status, 200);
    assert.equal(text(answer.body, 'SoapTransform'), '<b> & A<i>&amp;</i>');
    assert.match(answer.body, /<SoapTransform>&lt;b&gt; &amp; A&lt;i&gt;&amp;amp;&lt;\/i&gt;<\/SoapTransform>/);
  });
});
