import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig } from '../server/config.ts';
import { problemsOf } from './helpers/config-problems.ts';
import { OtlpReceiver } from './helpers/otlp-receiver.ts';
import { scrape } from './helpers/prometheus-text.ts';
import { knownTokens, type ProxyFixture, startProxyFixture, tokenRequests } from './helpers/proxy-fixture.ts';
import { createApiToken } from './helpers/api-tokens.ts';
import { CookieBrowser, signIn, startGatehouse, TestClock, type TestGatehouse } from './helpers/harness.ts';
import { restartableRedisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';
import { callSoap } from './helpers/soap.ts';

const minute = 60_000;

describe('metrics on GATEHOUSE_METRICS_PORT', () => {
  let f: ProxyFixture;
  let metricsUrl: string;
  before(async () => {
    // Short-lived access tokens, so moving the clock forces a refresh; one login per minute, so
    // the fixture's own sign-in uses the budget and the next is refused.
    f = await startProxyFixture({
      accessTokenTtlSeconds: 120,
      env: { GATEHOUSE_METRICS_PORT: '0', GATEHOUSE_RATE_LIMIT_LOGIN: '1/60' },
    });
    metricsUrl = f.gatehouse.gh.deps.observability!.metricsUrl!;
  });
  after(() => f.stop());

  test('a scrape after a sign-in, a proxied call, a refresh and a SOAP call finds each counted', async () => {
    assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'bound to loopback by default');
    assert.equal((await f.call('/api/echo/items')).response.status, 200);
    const refreshes = tokenRequests(f, 'refresh_token');
    f.clock.advance(2 * minute); // the access token is now within the refresh skew
    assert.equal((await f.call('/api/echo/items')).response.status, 200);
    assert.equal(tokenRequests(f, 'refresh_token'), refreshes + 1, 'the IdP saw one refresh');
    assert.equal((await callSoap(f.gatehouse.url, 'SessionServerInfo')).status, 200);
    assert.equal((await callSoap(f.gatehouse.url, 'NoSuchOperation')).status, 500);

    const m = await scrape(metricsUrl);
    assert.equal(m.get('gatehouse_sign_ins_total{via="oidc",result="ok",reason="none"}'), 1);
    assert.equal(m.get('gatehouse_requests_total{family="auth",status_class="3xx"}')! >= 2, true);
    assert.equal(m.get('gatehouse_requests_total{family="api",status_class="2xx"}'), 2);
    assert.equal(m.get('gatehouse_request_duration_seconds_count{family="api"}'), 2);
    assert.equal(m.get('gatehouse_proxy_requests_total{upstream="echo",status="200"}'), 2);
    assert.equal(m.get('gatehouse_proxy_upstream_duration_seconds_count{upstream="echo"}'), 2);
    assert.equal(m.get('gatehouse_proxy_overhead_seconds_count{upstream="echo"}'), 2);
    const refreshed =
      (m.get('gatehouse_token_refreshes_total{outcome="ok"}') ?? 0) +
      (m.get('gatehouse_token_refreshes_total{outcome="rotated"}') ?? 0);
    assert.equal(refreshed, 1);
    assert.equal(
      m.get('gatehouse_token_refresh_duration_seconds_count{outcome="rotated"}'),
      1,
      'the embedded IdP rotates',
    );
    assert.equal(m.get('gatehouse_token_refreshes_total{outcome="invalid_grant"}'), 0);
    // The code exchange and the refresh; discovery and the key set at start.
    assert.equal(m.get('gatehouse_idp_request_duration_seconds_count{endpoint="token"}')! >= 2, true);
    assert.equal(m.get('gatehouse_idp_request_duration_seconds_count{endpoint="discovery"}')! >= 1, true);
    assert.equal(m.get('gatehouse_idp_request_duration_seconds_count{endpoint="jwks"}')! >= 1, true);
    assert.equal(m.get('gatehouse_idp_request_errors_total{endpoint="token"}'), 0);
    assert.equal(m.get('gatehouse_soap_calls_total{operation="SessionServerInfo",fault="none"}'), 1);
    assert.equal(
      [...m].some(
        ([name, value]) => name.startsWith('gatehouse_soap_calls_total{operation="unknown",fault=') && value === 1,
      ),
      true,
      'the unknown operation is counted with its fault',
    );
    assert.equal(m.get('gatehouse_store_up'), 1);
    assert.equal(m.get('gatehouse_store_operation_duration_seconds_count{operation="get"}')! > 0, true);
    assert.equal(m.get('gatehouse_requests_total{family="soap",status_class="5xx"}'), 1);
  });

  test('no label holds a path, a user or a token', async () => {
    const text = await (await fetch(metricsUrl)).text();
    for (const secret of await knownTokens(f)) assert.equal(text.includes(secret), false);
    assert.doesNotMatch(text, /alice|\/api\/|items/);
  });

  test('rate-limit refusals are counted by rule, sign-outs and session ends by cause', async () => {
    assert.equal((await f.browser.request(`${f.gatehouse.url}/auth/login`)).status, 429);
    await f.call('/auth/logout', { method: 'POST' });
    const m = await scrape(metricsUrl);
    assert.equal(m.get('gatehouse_rate_limited_total{rule="login:auth_login"}'), 1);
    assert.equal(m.get('gatehouse_sign_outs_total'), 1);
    assert.equal(m.get('gatehouse_session_ends_total{cause="signed_out"}'), 1);
  });

  test('a back-channel logout is counted by result', async () => {
    const response = await fetch(`${f.gatehouse.url}/auth/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    assert.equal(response.status, 400);
    const m = await scrape(metricsUrl);
    assert.equal(m.get('gatehouse_backchannel_logouts_total{result="invalid_request"}'), 1);
  });

  test('/metrics is not served on the public listener', async () => {
    const response = await fetch(`${f.gatehouse.url}/metrics`);
    assert.equal(response.status, 404);
    assert.doesNotMatch(await response.text(), /gatehouse_/);
  });

  test('the metrics listener serves nothing but GET /metrics', async () => {
    const base = metricsUrl.replace(/\/metrics$/, '');
    assert.equal((await fetch(`${base}/`)).status, 404);
    assert.equal((await fetch(`${base}/api/echo/items`)).status, 404);
    assert.equal((await fetch(metricsUrl, { method: 'POST' })).status, 404);
  });
});

describe('metrics of sign-in refusals, session ends, API tokens and a Redis store', {
  skip: restartableRedisSkipReason(),
}, () => {
  let redis: TestRedis;
  let gatehouse: TestGatehouse;
  const clock = new TestClock();
  let metricsUrl: string;
  before(async () => {
    redis = await startTestRedis();
    gatehouse = await startGatehouse(
      { GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: redis.url, GATEHOUSE_METRICS_PORT: '0' },
      { clock: clock.read },
    );
    metricsUrl = gatehouse.gh.deps.observability!.metricsUrl!;
  });
  after(async () => {
    await gatehouse?.stop();
    await redis?.close();
  });

  test('a callback with an unknown state counts a refused sign-in with that reason', async () => {
    const response = await fetch(`${gatehouse.url}/auth/callback?state=not-a-state&code=not-a-code`);
    assert.equal(response.status, 400);
    const m = await scrape(metricsUrl);
    assert.equal(m.get('gatehouse_sign_ins_total{via="oidc",result="refused",reason="unknown_state"}'), 1);
  });

  test('API tokens issued and revoked are counted', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser);
    await createApiToken(gatehouse, browser, { name: 'counted' });
    const listed = await browser.request(`${gatehouse.url}/auth/tokens`);
    const [token] = ((await listed.json()) as { tokens: Array<{ id: string }> }).tokens;
    const revoked = await browser.request(`${gatehouse.url}/auth/tokens/${token!.id}`, {
      method: 'DELETE',
      headers: { 'x-csrf': '1' },
    });
    assert.equal(revoked.status < 300, true);
    const m = await scrape(metricsUrl);
    assert.equal(m.get('gatehouse_api_tokens_total{event="issued"}'), 1);
    assert.equal(m.get('gatehouse_api_tokens_total{event="revoked"}'), 1);
  });

  test('a session left idle past GATEHOUSE_SESSION_IDLE is counted as ended by cause idle', async () => {
    const browser = new CookieBrowser();
    await signIn(gatehouse, browser);
    assert.equal((await browser.request(`${gatehouse.url}/auth/user`)).status, 200);
    clock.advance(gatehouse.gh.config.session.idleMs + 1000);
    assert.equal((await browser.request(`${gatehouse.url}/auth/user`)).status, 401);
    const m = await scrape(metricsUrl);
    assert.equal(m.get('gatehouse_session_ends_total{cause="idle"}'), 1);
  });

  test('with Redis down, gatehouse_store_up is 0 and failed store operations are counted', async () => {
    assert.equal((await scrape(metricsUrl)).get('gatehouse_store_up'), 1);
    await redis.stop();
    try {
      const browser = new CookieBrowser();
      assert.equal((await browser.request(`${gatehouse.url}/auth/login`)).status, 503);
      const m = await scrape(metricsUrl);
      assert.equal(m.get('gatehouse_store_up'), 0);
      assert.equal(
        [...m].some(([name, value]) => name.startsWith('gatehouse_store_operation_errors_total{') && value > 0),
        true,
      );
    } finally {
      await redis.restart();
    }
  });
});

describe('traces to GATEHOUSE_OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  let f: ProxyFixture;
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await new OtlpReceiver().start();
    f = await startProxyFixture({ env: { GATEHOUSE_OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
  });
  after(async () => {
    await f.stop();
    await receiver.stop();
  });

  test('a proxied call is one request span with IdP, store and upstream child spans, and the upstream gets its traceparent', async () => {
    const { response } = await f.call('/api/echo/items?q=secret-query-value');
    assert.equal(response.status, 200);
    const requestId = response.headers.get('x-request-id')!;
    const traceparent = f.echo.requests.at(-1)!.headers.traceparent;
    assert.equal(typeof traceparent, 'string');
    const [, traceId, parentId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(traceparent as string)!;

    await f.gatehouse.gh.deps.observability!.flush();
    const requestSpan = receiver.spans.find((span) => span.attributes['gatehouse.request_id'] === requestId);
    assert.ok(requestSpan, 'the request has a span carrying its request id');
    assert.equal(requestSpan.name, 'GET api');
    assert.equal(requestSpan.attributes['http.response.status_code'], 200);
    assert.equal(requestSpan.attributes['gatehouse.upstream'], 'echo');
    assert.equal(requestSpan.traceId, traceId);
    const upstreamSpan = receiver.spans.find((span) => span.spanId === parentId);
    assert.ok(upstreamSpan, "the upstream's traceparent names the upstream call's span");
    assert.equal(upstreamSpan.name, 'upstream echo');
    assert.equal(upstreamSpan.parentSpanId, requestSpan.spanId);
    const storeSpans = receiver.spans.filter(
      (span) => span.parentSpanId === requestSpan.spanId && span.name.startsWith('store '),
    );
    assert.ok(storeSpans.length > 0, "the session's store reads are children of the request");

    // The sign-in: its code exchange is a child of the callback's span.
    const callback = receiver.spans.find(
      (span) =>
        span.name === 'GET auth' &&
        receiver.spans.some((child) => child.parentSpanId === span.spanId && child.name === 'idp token'),
    );
    assert.ok(callback, 'the token request at the callback is a child span of that request');
  });

  test("a caller's traceparent is not followed: the request starts a new trace and the upstream gets Gatehouse's", async () => {
    const callers = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const { response } = await f.call('/api/echo/items', { headers: { traceparent: callers } });
    assert.equal(response.status, 200);
    const sent = f.echo.requests.at(-1)!.headers.traceparent as string;
    assert.notEqual(sent, callers);
    await f.gatehouse.gh.deps.observability!.flush();
    const requestSpan = receiver.spans.find(
      (span) => span.attributes['gatehouse.request_id'] === response.headers.get('x-request-id'),
    )!;
    assert.notEqual(requestSpan.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(requestSpan.parentSpanId, '');
    assert.equal(sent.split('-')[1], requestSpan.traceId);
  });

  test('no token, cookie, code, secret or query string is in any exported attribute', async () => {
    await f.call('/api/echo/items?q=secret-query-value');
    await f.gatehouse.gh.deps.observability!.flush();
    const exported = receiver.bodies.join('\n');
    assert.ok(receiver.spans.length > 0);
    const secrets = [
      ...(await knownTokens(f)),
      ...f.browser
        .cookieHeader(new URL(f.gatehouse.url))
        .split('; ')
        .map((pair) => pair.split('=')[1]!),
      f.gatehouse.gh.config.oidc.clientSecret!,
      f.gatehouse.gh.config.session.secret,
      'secret-query-value',
    ];
    for (const secret of secrets) {
      assert.ok(secret.length >= 8);
      assert.equal(exported.includes(secret), false, 'a secret value reached the trace export');
    }
    for (const span of receiver.spans) {
      for (const value of Object.values(span.attributes))
        assert.doesNotMatch(String(value), /[?&](code|state)=|Bearer /);
    }
  });
});

describe('with neither metrics nor traces configured', () => {
  const child = fileURLToPath(new URL('./fixtures/start-refusing-observability-modules.ts', import.meta.url));
  const run = (env: Record<string, string>) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', child, JSON.stringify(env)], { timeout: 60_000 });

  test('Gatehouse serves requests without ever loading prom-client or OpenTelemetry, and serves no /metrics', async () => {
    const { stdout } = await run({});
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').at(-1)!), { health: 200, metrics: 404, enabled: false });
  });

  test('the same module guard stops a start that has metrics configured (the guard works)', async () => {
    await assert.rejects(run({ GATEHOUSE_METRICS_PORT: '0' }), /refused to load prom-client/);
  });
});

describe('observability configuration', () => {
  test('the metrics port may not be the public port, and a bad OTLP endpoint is named', () => {
    const problems = problemsOf({
      GATEHOUSE_PORT: '8080',
      GATEHOUSE_METRICS_PORT: '8080',
      GATEHOUSE_OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
    });
    assert.ok(problems.some((p) => /GATEHOUSE_METRICS_PORT must differ from GATEHOUSE_PORT/.test(p)));
    assert.ok(problems.some((p) => /GATEHOUSE_OTEL_EXPORTER_OTLP_ENDPOINT must be an http\(s\) URL/.test(p)));
  });

  test('the standard OTEL_EXPORTER_OTLP_ENDPOINT is used when Gatehouse’s own is not set, and metrics stay off by default', () => {
    const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' });
    assert.equal(config.observability.otlpEndpoint, 'http://collector:4318');
    assert.equal(config.observability.metricsPort, undefined);
    assert.equal(config.observability.metricsHost, '127.0.0.1');
    const own = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      GATEHOUSE_OTEL_EXPORTER_OTLP_ENDPOINT: 'http://own:4318',
    });
    assert.equal(own.observability.otlpEndpoint, 'http://own:4318');
  });
});
