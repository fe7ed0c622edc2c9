// The gate (server/gate/): every request passes one list of steps before any handler, on the
// pages and on the `/api` fast path alike; a handler the gate did not admit a request to
// refuses it. The request-shape rules and the parity of both paths: test/gate-parity.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { admitStep, gateSteps } from '../server/gate/gate.ts';
import { type Credential, policy, type RouteKind, ruleFor } from '../server/gate/policy.ts';
import { routeOf } from '../server/gate/routes.ts';
import { startGatehouse, type TestGatehouse } from './helpers/harness.ts';

describe('a gate that does not admit', () => {
  let gatehouse: TestGatehouse;
  before(async () => {
    gatehouse = await startGatehouse({}, { gateSteps: gateSteps.filter((step) => step !== admitStep) });
  });
  after(() => gatehouse.stop());

  function unadmittedLines(route: string) {
    return gatehouse.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'a handler was reached without passing the gate' && line.route === route);
  }

  test('makes every page handler fail closed with 500 internal_error and a log line naming the route', async () => {
    for (const path of ['/healthz', '/', '/public/css/site.css', '/auth/login', '/Session']) {
      const response = await fetch(`${gatehouse.url}${path}?q=1`, { headers: { accept: 'application/json' } });
      assert.equal(response.status, 500, path);
      // JSON (or a SOAP Fault at /Session, which says no more than `Unknown exception`).
      const body = await response.text();
      assert.match(body, path === '/Session' ? /Unknown exception/ : /"error":"internal_error"/, path);
      assert.equal(unadmittedLines(`GET ${path}`).length, 1, path);
    }
  });

  test('makes the /api handler fail closed too, for a caller the policy lets through', async () => {
    // Every page fails closed here, sign-in included: the grant and its handle are made directly.
    const { grants } = gatehouse.gh.deps;
    const grant = await grants.create({
      sub: 'alice',
      via: 'oidc',
      claims: {},
      tokens: { accessToken: 'at' },
      maxLifetimeMs: 3_600_000,
    });
    const handle = await grants.issueHandle(grant);
    const response = await fetch(`${gatehouse.url}/api/renku/projects?q=1`, {
      headers: { authorization: `Bearer ${handle}` },
    });
    assert.equal(response.status, 500);
    assert.equal(((await response.json()) as { error: string }).error, 'internal_error');
    assert.equal(unadmittedLines('GET /api/renku/projects').length, 1);
  });
});

describe('the policy table', () => {
  const kinds = Object.keys(policy) as RouteKind[];
  const credentials: Credential[] = ['session_cookie', 'identity_token', 'api_token', 'none'];

  test('names a rule for every route kind and credential', () => {
    assert.deepEqual(kinds.sort(), [
      'health',
      'idp_facing',
      'own_api',
      'page',
      'page_form',
      'proxied_api',
      'proxied_socket',
      'soap',
      'static',
    ]);
    for (const kind of kinds)
      for (const credential of credentials) assert.ok(policy[kind][credential], `${kind} × ${credential}`);
  });

  test('asks a cookie caller for X-CSRF on every /api call, reads too, and a bearer caller for nothing', () => {
    assert.deepEqual(ruleFor('proxied_api', 'any', 'session_cookie'), {
      proofs: ['csrf_header'],
      onReads: true,
      missing: 'csrf_header_missing',
    });
    assert.deepEqual(ruleFor('proxied_api', 'any', 'identity_token').proofs, []);
    assert.deepEqual(ruleFor('proxied_api', 'any', 'api_token').proofs, []);
    assert.equal(ruleFor('proxied_api', 'any', 'none').refused, 'unauthenticated');
  });

  test("asks a cookie caller's WebSocket handshake for Gatehouse's own Origin (it cannot carry X-CSRF), and a bearer caller for nothing", () => {
    assert.deepEqual(ruleFor('proxied_socket', 'any', 'session_cookie'), {
      proofs: ['same_origin'],
      onReads: true,
      missing: 'websocket_origin_refused',
    });
    assert.deepEqual(ruleFor('proxied_socket', 'any', 'identity_token').proofs, []);
    assert.deepEqual(ruleFor('proxied_socket', 'any', 'api_token').proofs, []);
    assert.equal(ruleFor('proxied_socket', 'any', 'none').refused, 'unauthenticated');
  });

  test("accepts the form's token or the header on a page form, and refuses API tokens on pages", () => {
    assert.deepEqual(ruleFor('page_form', 'any', 'session_cookie').proofs, ['csrf_header', 'form_token']);
    assert.equal(ruleFor('page_form', 'any', 'session_cookie').onReads, undefined);
    assert.equal(ruleFor('page', 'any', 'api_token').refused, 'token_scope');
    assert.equal(ruleFor('page_form', 'any', 'api_token').refused, 'token_scope');
  });

  test('keeps browser-only routes for the session cookie: a handle is refused, an anonymous page visit is not', () => {
    assert.equal(ruleFor('page', 'browser', 'identity_token').refused, 'browser_session_required');
    assert.equal(ruleFor('own_api', 'browser', 'identity_token').refused, 'browser_session_required');
    assert.equal(ruleFor('page', 'browser', 'none').refused, undefined);
    assert.equal(ruleFor('page_form', 'browser', 'none').refused, 'unauthenticated');
    assert.equal(ruleFor('own_api', 'signed_in', 'none').refused, 'unauthenticated');
  });

  test('sends each path to its route kind, whatever its case', () => {
    const kindOf = (method: string, path: string) => routeOf(method, path).kind;
    assert.equal(kindOf('GET', '/API/renku/x'), 'proxied_api');
    assert.equal(kindOf('GET', '/public/css/site.css'), 'static');
    assert.equal(kindOf('GET', '/readyz'), 'health');
    assert.equal(kindOf('POST', '/Session'), 'soap');
    assert.equal(kindOf('POST', '/auth/backchannel-logout'), 'idp_facing');
    assert.equal(kindOf('POST', '/auth/device/token'), 'idp_facing');
    assert.equal(kindOf('GET', '/auth/callback'), 'idp_facing');
    assert.equal(kindOf('GET', '/external/callback'), 'idp_facing');
    assert.equal(kindOf('GET', '/auth/user'), 'own_api');
    assert.equal(kindOf('DELETE', '/auth/sessions/abc'), 'own_api');
    assert.equal(kindOf('POST', '/auth/sessions/abc/end'), 'page_form');
    assert.equal(kindOf('POST', '/auth/logout'), 'page_form');
    assert.equal(kindOf('POST', '/Tokens'), 'page_form');
    assert.equal(kindOf('GET', '/tokens'), 'page');
    assert.equal(kindOf('GET', '/'), 'page');
    assert.equal(routeOf('GET', '/device').audience, 'browser');
    assert.equal(routeOf('GET', '/auth/callback').identifies, true);
    assert.equal(routeOf('POST', '/Session').identifies, false);
  });
});
