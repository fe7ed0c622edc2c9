import type { Config } from '../config.ts';
import type { Upstream } from '../upstream-registry.ts';
import { type CheckResult, elapsedMs, fetchFailure } from './check-result.ts';

/** The longest doctor waits for one upstream, whatever its own `timeoutMs`. */
const upstreamProbeTimeoutMs = 10_000;

/**
 * Each declared upstream's base URL, fetched without credentials: any HTTP status means it
 * answers (✓, with the time taken); no answer or a TLS certificate the host does not accept is
 * ✗. ⚠ for http in production, and for a user token sent without `audience` or `resource`
 * (the sign-in token, meant for anything, would reach that upstream unchecked).
 */
export async function checkUpstreams(config: Config, upstreams: readonly Upstream[]): Promise<CheckResult[]> {
  if (upstreams.length === 0) {
    return [
      {
        id: 'upstreams',
        title: 'upstreams',
        status: 'ok',
        detail: 'none declared (GATEHOUSE_APIS is not set): /api/ serves nothing',
      },
    ];
  }
  return Promise.all(upstreams.map((upstream) => checkUpstream(config, upstream)));
}

async function checkUpstream(config: Config, upstream: Upstream): Promise<CheckResult> {
  const base = { id: `upstream:${upstream.name}`, title: `upstream ${upstream.name}` };
  const startedAt = performance.now();
  let status: number;
  try {
    const response = await fetch(upstream.url, {
      redirect: 'manual',
      signal: AbortSignal.timeout(Math.min(upstream.timeoutMs, upstreamProbeTimeoutMs)),
    });
    await response.body?.cancel();
    status = response.status;
  } catch (error) {
    return {
      ...base,
      status: 'fail',
      detail: `${upstream.url} did not answer: ${fetchFailure(error)}`,
      fix: `check "url" of upstream "${upstream.name}" in GATEHOUSE_APIS and that this host can reach it${/TLS/.test(fetchFailure(error)) ? ' (its certificate must be valid for that host name and chain to a trusted CA; NODE_EXTRA_CA_CERTS adds a private CA)' : ''}`,
      ms: elapsedMs(startedAt),
    };
  }
  const ms = elapsedMs(startedAt);
  const https = upstream.url.startsWith('https:');
  const answered = `${upstream.url} answered HTTP ${status} in ${ms} ms${https ? ' (TLS valid)' : ''}`;
  const warnings: Array<{ detail: string; fix: string }> = [];
  if (config.production && !https) {
    warnings.push({
      detail: 'http in production: the access token crosses the network in clear',
      fix: `use an https "url" for upstream "${upstream.name}"`,
    });
  }
  if (upstream.token === 'user' && upstream.audience === undefined && upstream.resource === undefined) {
    warnings.push({
      detail:
        'the user\'s token is sent with neither "audience" nor "resource": Gatehouse cannot check it is meant for this upstream',
      fix: `declare "audience" for upstream "${upstream.name}" (and add the Keycloak Audience mapper for it), or "resource" with an IdP that supports resource indicators`,
    });
  }
  if (warnings.length === 0) return { ...base, status: 'ok', detail: answered, ms };
  return {
    ...base,
    status: 'warn',
    detail: `${answered}; ${warnings.map((w) => w.detail).join('; ')}`,
    fix: warnings.map((w) => w.fix).join('; '),
    ms,
  };
}
