import type { Config } from '../config.ts';
import { gatehouseVersion } from '../version.ts';
import { type CheckResult, elapsedMs, fetchFailure } from './check-result.ts';

/** How long doctor waits for a running Gatehouse's `/readyz` (it re-checks the store and IdP in ≤ 2 s). */
const readyzTimeoutMs = 5000;

/** What `/readyz` answers (see server/health.ts). */
interface Readiness {
  status?: unknown;
  reasons?: unknown;
  version?: unknown;
  uptimeSeconds?: unknown;
}

/**
 * The Gatehouse running at the configured public URL, if one answers: its `/readyz`, with the
 * version and uptime it reports. Ready is ✓ (⚠ when it runs another version than this checkout:
 * it was not restarted); not ready is ✗ with its reasons; something else answering there is ⚠.
 * Nothing answering is ✓: doctor also runs before the first start, and then checks the rest only.
 */
export async function checkRunningGatehouse(config: Config): Promise<CheckResult> {
  const url = `${config.publicUrl}/readyz`;
  const base = { id: 'running', title: 'running Gatehouse' };
  const startedAt = performance.now();
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(readyzTimeoutMs),
    });
  } catch (error) {
    const why = fetchFailure(error);
    if (why === 'ECONNREFUSED')
      return {
        ...base,
        status: 'ok',
        detail: `none answers at ${config.publicUrl} (not started, or elsewhere): the lines below check the configuration, not a running Gatehouse`,
        ms: elapsedMs(startedAt),
      };
    return {
      ...base,
      status: 'warn',
      detail: `${url} could not be reached: ${why}`,
      fix: 'if Gatehouse runs, GATEHOUSE_PUBLIC_URL must be the URL browsers use to reach it, reachable from this host',
      ms: elapsedMs(startedAt),
    };
  }
  const ms = elapsedMs(startedAt);
  const body = await response.text().catch(() => '');
  let readiness: Readiness | undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) readiness = parsed as Readiness;
  } catch {
    // not Gatehouse: said below
  }
  const version = typeof readiness?.version === 'string' ? readiness.version : undefined;
  if (!readiness || version === undefined || (readiness.status !== 'ready' && readiness.status !== 'unavailable')) {
    return {
      ...base,
      status: 'warn',
      detail: `something other than Gatehouse answers at ${url} (HTTP ${response.status}${response.headers.get('content-type') ? `, ${response.headers.get('content-type')}` : ''})`,
      fix: 'another program holds the address GATEHOUSE_PUBLIC_URL names (a stale process, or an older Gatehouse without a version on /readyz): stop it, or correct GATEHOUSE_PUBLIC_URL',
      ms,
    };
  }
  const uptime = typeof readiness.uptimeSeconds === 'number' ? `, up ${formatUptime(readiness.uptimeSeconds)}` : '';
  const who = `Gatehouse ${version} at ${config.publicUrl}${uptime}`;
  if (readiness.status === 'unavailable') {
    const reasons = Array.isArray(readiness.reasons) ? readiness.reasons.map(String).join('; ') : 'no reason given';
    return {
      ...base,
      status: 'fail',
      detail: `${who}, is not ready (HTTP ${response.status}): ${reasons}`,
      fix: 'see the reasons; the store and IdP lines below say more',
      ms,
    };
  }
  if (version !== gatehouseVersion) {
    return {
      ...base,
      status: 'warn',
      detail: `${who}, is ready, but runs version ${version} while this checkout is ${gatehouseVersion}`,
      fix: 'restart it (npm start, or systemctl restart gatehouse) to run this version',
      ms,
    };
  }
  return { ...base, status: 'ok', detail: `${who}, is ready (its store answers and its IdP serves its keys)`, ms };
}

/** `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`. */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}
