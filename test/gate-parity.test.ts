// One running Gatehouse, one table of requests: route kinds × credentials × the request rules of
// the gate. Each row names the status, the error code, whether the session cookie is cleared,
// whether a waiting body is invited (100 Continue) and extra log fields; every row also checks
// the security headers and the request's log line. Rows under /api are served by the fast path,
// the others by the Express app: the same answers from both is the point. Adding a case is one
// line. (test/gate.test.ts: the policy table and the fail-closed handlers.)
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createApiToken } from './helpers/api-tokens.ts';
import { type ProxyFixture, startProxyFixture } from './helpers/proxy-fixture.ts';

/** How a row's request proves who it is. */
type As = 'none' | 'cookie' | 'handle' | 'token' | 'stale_cookie' | 'two_cookies' | 'context_cookie';

interface Expected {
  status: number;
  error?: string;
  /** The session cookie is cleared in the answer. */
  clearsCookie?: boolean;
  /** Sent with `Expect: 100-continue` and this many body bytes (declared): was the body invited? */
  continued?: boolean;
  /** Fields of the request's log line beyond status and path. */
  log?: Record<string, unknown>;
  /** Another log line this request wrote (its `msg` and some fields). */
  alsoLogged?: Record<string, unknown>;
  allow?: RegExp;
}

interface Case extends Expected {
  method: string;
  path: string;
  as: As;
  headers: Record<string, string>;
  /** Declared body length, sent only once the body is invited. */
  bodyBytes?: number;
}

const evil = { origin: 'https://evil.example' };
const crossSite = { 'sec-fetch-site': 'cross-site' };
const csrf = { 'x-csrf': '1' };
const expect100 = { expect: '100-continue' };
const bigApiBody = 2_000_000; // over the fixture's GATEHOUSE_PROXY_MAX_BODY
const bigPageBody = 70_000; // over the 64 KiB every other route reads at most

/** One line per case: `METHOD /path`, who calls, extra headers, then what comes back. */
function row(
  target: string,
  as: As,
  headers: Record<string, string>,
  status: number,
  error?: string,
  more: Omit<Expected, 'status' | 'error'> & { bodyBytes?: number } = {},
): Case {
  const [method, path] = target.split(' ') as [string, string];
  return { method, path, as, headers, status, ...(error ? { error } : {}), ...more };
}

const cases: Case[] = [
  // The proxied API (fast path): credentials and proofs.
  row('GET /api/echo/x', 'none', {}, 401, 'unauthenticated'),
  row('GET /api/echo/x', 'cookie', {}, 403, 'csrf_header_missing'),
  row('GET /api/echo/x', 'cookie', csrf, 200),
  row('GET /api/echo/x', 'handle', {}, 200),
  row('GET /api/echo/x', 'token', {}, 200),
  row('GET /api/echo/x', 'stale_cookie', csrf, 401, 'unauthenticated', { clearsCookie: true }),
  row('GET /api/echo/x', 'two_cookies', csrf, 400, 'ambiguous_session', {
    alsoLogged: { msg: 'credential refused', credential: 'session_cookie', clientIp: '::ffff:127.0.0.1' },
  }),
  // Cross-site writes, even with X-CSRF; scripts without the headers are judged as before.
  row('POST /api/echo/x', 'cookie', { ...csrf, ...evil }, 403, 'cross_site_request'),
  row('POST /api/echo/x', 'cookie', { ...csrf, ...crossSite }, 403, 'cross_site_request'),
  row('DELETE /api/echo/x', 'handle', evil, 403, 'cross_site_request'),
  row('POST /api/echo/x', 'cookie', { ...csrf, origin: 'OWN', 'sec-fetch-site': 'same-origin' }, 200),
  row('POST /api/echo/x', 'handle', {}, 200),
  row('GET /api/echo/x', 'cookie', { ...csrf, ...crossSite }, 200),
  // Methods.
  row('TRACE /api/echo/x', 'handle', {}, 405, 'method_not_allowed', {
    allow: /^GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS$/,
  }),
  row('PROPFIND /api/echo/x', 'handle', {}, 405, 'method_not_allowed'),
  row('PROPFIND /api/dav/x', 'handle', {}, 200),
  // Expect: 100-continue.
  row('POST /api/echo/x', 'none', expect100, 401, 'unauthenticated', { bodyBytes: 10, continued: false }),
  row('POST /api/echo/x', 'handle', expect100, 413, 'payload_too_large', { bodyBytes: bigApiBody, continued: false }),
  row('POST /api/echo/x', 'handle', expect100, 200, undefined, { bodyBytes: 10, continued: true }),
  // Request ids: this Gatehouse trusts no proxy, so a caller's id is only logged.
  row('GET /api/echo/x', 'handle', { 'x-request-id': 'chosen-by-the-caller' }, 200, undefined, {
    log: { clientRequestId: 'chosen-by-the-caller' },
  }),
  row('GET /api/echo/x', 'handle', { 'x-request-id': 'bad id<script>' }, 200, undefined, {
    log: { clientRequestId: 'badidscript' },
  }),

  // Pages and Gatehouse's own routes (Express).
  row('GET /', 'none', {}, 200),
  row('GET /', 'token', {}, 403, 'token_scope'),
  row('GET /', 'stale_cookie', {}, 200, undefined, { clearsCookie: true }),
  row('GET /auth/user', 'none', {}, 401, 'unauthenticated'),
  row('GET /auth/user', 'cookie', {}, 200),
  row('GET /auth/user', 'handle', {}, 200),
  row('GET /auth/user', 'token', {}, 200),
  row('GET /auth/user', 'two_cookies', {}, 400, 'ambiguous_session', {
    alsoLogged: { msg: 'credential refused', credential: 'session_cookie', clientIp: '::ffff:127.0.0.1' },
  }),
  row('GET /tokens', 'handle', {}, 403, 'browser_session_required'),
  row('GET /auth/tokens', 'none', {}, 401, 'unauthenticated'),
  row('DELETE /auth/sessions/x', 'cookie', {}, 403, 'csrf_proof_missing'),
  row('DELETE /auth/sessions/x', 'cookie', csrf, 400, 'invalid_session_id'),
  // A real browser's own form post: Origin hidden (Referrer-Policy no-referrer), Sec-Fetch-Site same-origin.
  row(
    'DELETE /auth/sessions/x',
    'cookie',
    { ...csrf, origin: 'null', 'sec-fetch-site': 'same-origin' },
    400,
    'invalid_session_id',
  ),
  row('DELETE /auth/sessions/x', 'cookie', { ...csrf, origin: 'null' }, 403, 'cross_site_request'),
  row('DELETE /auth/sessions/x', 'cookie', { ...csrf, 'sec-fetch-site': 'same-site' }, 403, 'cross_site_request'),
  row('POST /auth/logout', 'cookie', {}, 403, 'csrf_proof_missing'),
  row('POST /auth/logout', 'cookie', { ...csrf, ...evil }, 403, 'cross_site_request'),
  row('POST /auth/logout', 'cookie', { ...csrf, ...crossSite }, 403, 'cross_site_request'),
  row('POST /auth/backchannel-logout', 'none', evil, 403, 'cross_site_request'),
  row('POST /auth/backchannel-logout', 'none', {}, 400, 'invalid_request'),
  // A SOAP Fault (HTTP 500, SOAP 1.1's status for every fault) that names the refusal.
  row('POST /Session', 'none', evil, 500, 'Gatehouse accepts changes only from its own pages.'),
  row('TRACE /', 'none', {}, 405, 'method_not_allowed', { allow: /^GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS$/ }),
  row('PROPFIND /tokens', 'cookie', {}, 405, 'method_not_allowed'),
  row('POST /', 'none', expect100, 413, 'payload_too_large', { bodyBytes: bigPageBody, continued: false }),
  row('POST /auth/sessions/x/end', 'none', expect100, 401, 'unauthenticated', { bodyBytes: 10, continued: false }),
  row('POST /Session', 'none', expect100, 500, undefined, { bodyBytes: 10, continued: true }),
  row('GET /healthz', 'two_cookies', {}, 200),
  row('GET /public/css/site.css', 'none', {}, 200),
  row('GET /', 'none', { 'x-request-id': 'chosen-by-the-caller' }, 200, undefined, {
    log: { clientRequestId: 'chosen-by-the-caller' },
  }),
  row('GET /external/callback?error=access_denied', 'context_cookie', {}, 400, 'idp_error_untrusted'),
];

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  continued: boolean;
}

describe('the pages and /api answer the same table the same way', () => {
  let fixture: ProxyFixture;
  let handle: string;
  let token: string;
  let sessionCookie: string;

  before(async () => {
    fixture = await startProxyFixture({
      // Loopback is not a trusted proxy here: the test's own X-Request-Id must not be taken.
      env: { GATEHOUSE_TRUST_PROXY: '10.0.0.0/8', GATEHOUSE_PROXY_MAX_BODY: '1000000' },
      upstreams: (url) => [{ name: 'dav', url: `${url}/dav`, token: 'user', methods: ['GET', 'PROPFIND'] }],
    });
    const { gatehouse, browser } = fixture;
    sessionCookie = browser.cookieHeader(new URL(gatehouse.url));
    const grant = (await gatehouse.gh.deps.grants.listBySub('alice'))[0]!;
    handle = await gatehouse.gh.deps.grants.issueHandle(grant);
    token = (await createApiToken(gatehouse, browser)).secret;
  });
  after(() => fixture.stop());

  function headersFor(c: Case): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(c.headers))
      headers[name] = value === 'OWN' ? new URL(fixture.gatehouse.url).origin : value;
    if (c.as === 'cookie') headers.cookie = sessionCookie;
    if (c.as === 'handle') headers.authorization = `Bearer ${handle}`;
    if (c.as === 'token') headers.authorization = `Bearer ${token}`;
    if (c.as === 'stale_cookie') headers.cookie = 'gatehouse=s%3Aunknown-session.bad-signature';
    if (c.as === 'two_cookies') headers.cookie = `${sessionCookie}; gatehouse=s%3Atossed-from-a-sibling.sig`;
    if (c.as === 'context_cookie') headers.cookie = 'ContextID=some-context';
    if (c.bodyBytes !== undefined) headers['content-length'] = String(c.bodyBytes);
    return headers;
  }

  function send(c: Case): Promise<Answer> {
    const url = new URL(fixture.gatehouse.url);
    return new Promise((resolve, reject) => {
      let continued = false;
      const request = http.request(
        { host: url.hostname, port: url.port, method: c.method, path: c.path, headers: headersFor(c), agent: false },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => {
            request.destroy();
            resolve({ status: res.statusCode!, headers: res.headers, body, continued });
          });
        },
      );
      request.on('error', reject);
      if (c.headers.expect) {
        request.on('continue', () => {
          continued = true;
          request.end(Buffer.alloc(c.bodyBytes ?? 0, 'x'));
        });
        request.flushHeaders();
      } else request.end(c.bodyBytes ? Buffer.alloc(c.bodyBytes, 'x') : undefined);
    });
  }

  function errorCodeOf(answer: Answer): string | undefined {
    if (/json/.test(answer.headers['content-type'] ?? '')) return (JSON.parse(answer.body) as { error?: string }).error;
    if (/xml/.test(answer.headers['content-type'] ?? '')) return /<faultstring>([^<]*)</.exec(answer.body)?.[1];
    return /id="error-code">([a-z_]+)</.exec(answer.body)?.[1];
  }

  function logLines(requestId: string): Record<string, unknown>[] {
    return fixture.gatehouse.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.requestId === requestId);
  }

  for (const c of cases) {
    const served = c.path.startsWith('/api/') ? 'fast path' : 'pages';
    const label = `${c.method} ${c.path} as ${c.as}${Object.keys(c.headers).length ? ` with ${Object.keys(c.headers).join(', ')}` : ''} → ${c.status}${c.error ? ` ${c.error}` : ''} (${served})`;
    // A bound per row: a request that hangs fails its own row, not the whole table.
    test(label, { timeout: 20_000 }, async () => {
      const answer = await send(c);
      assert.equal(answer.status, c.status, answer.body.slice(0, 300));
      if (c.error) assert.equal(errorCodeOf(answer), c.error);
      // The security headers, on every answer.
      assert.equal(answer.headers['x-content-type-options'], 'nosniff');
      // (An upstream's answer gets a sandbox policy of its own from relayResponse.)
      assert.match(String(answer.headers['content-security-policy']), /default-src '(?:self|none)'/);
      assert.equal(answer.headers['x-frame-options'], 'SAMEORIGIN');
      const requestId = String(answer.headers['x-request-id']);
      assert.notEqual(requestId, c.headers['x-request-id'], 'a caller outside the trusted proxies chooses no id');
      const cleared = [answer.headers['set-cookie'] ?? []]
        .flat()
        .some((cookie) => /^gatehouse=;.*Expires=Thu, 01 Jan 1970/.test(cookie));
      assert.equal(cleared, c.clearsCookie ?? false, 'session cookie cleared');
      if (c.continued !== undefined) assert.equal(answer.continued, c.continued, '100 Continue');
      if (c.allow) assert.match(String(answer.headers.allow), c.allow);
      // The one request line, once the response is done.
      let lines: Record<string, unknown>[] = [];
      for (let i = 0; i < 200 && !lines.some((line) => line.msg === 'request'); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        lines = logLines(requestId);
      }
      const line = lines.find((entry) => entry.msg === 'request');
      assert.ok(line, 'a request log line');
      assert.equal(line.status, c.status);
      assert.equal(line.path, c.path.split('?')[0]);
      for (const [field, value] of Object.entries(c.log ?? {})) assert.equal(line[field], value, field);
      if (c.log?.clientRequestId === undefined) assert.equal(line.clientRequestId, undefined);
      if (c.alsoLogged) {
        const { msg, ...fields } = c.alsoLogged;
        const other = lines.find((entry) => entry.msg === msg);
        assert.ok(other, `a "${msg}" log line`);
        for (const [field, value] of Object.entries(fields)) assert.equal(other[field], value, field);
      }
    });
  }

  test('the table covers every route kind on both paths', () => {
    const fastPath = cases.filter((c) => c.path.startsWith('/api/'));
    assert.ok(fastPath.length >= 15 && cases.length - fastPath.length >= 15);
  });
});
