import { createClient } from 'redis';
import type { Config } from '../config.ts';
import { type CheckResult, elapsedMs } from './check-result.ts';

/**
 * The store: with Redis, that it answers (latency, version), that its `maxmemory-policy` never
 * evicts keys (eviction signs users out silently: ✗), and that it persists (RDB `save` or AOF;
 * without, a restart ends every session: ⚠). The memory store is one line saying it serves one
 * instance only (⚠ in production, where a restart ends every session).
 */
export async function checkStore(config: Config): Promise<CheckResult[]> {
  if (config.store === 'memory') {
    const detail = `memory: one Gatehouse instance only, and a restart ends every session and every API token${config.production ? (config.apiTokens.refusedOnMemoryStore ? ' (so creating API tokens is refused)' : ' (GATEHOUSE_API_TOKENS_ON_MEMORY_STORE=accept allows them anyway)') : ''}`;
    return [
      config.production
        ? {
            id: 'store',
            title: 'store',
            status: 'warn',
            detail,
            fix: 'for more than one instance, or sessions and API tokens that survive a restart, set GATEHOUSE_STORE=redis and GATEHOUSE_REDIS_URL',
          }
        : { id: 'store', title: 'store', status: 'ok', detail: `${detail} (set GATEHOUSE_STORE=redis to keep them)` },
    ];
  }
  const timeoutMs = 2000;
  const client = createClient({
    url: config.redisUrl!,
    socket: { connectTimeout: timeoutMs, reconnectStrategy: false },
    disableOfflineQueue: true,
  });
  client.on('error', () => {}); // reported by the commands below
  const where = redactedUrl(config.redisUrl!);
  const startedAt = performance.now();
  try {
    await withTimeout(client.connect(), timeoutMs);
    const pingStartedAt = performance.now();
    await withTimeout(client.ping(), timeoutMs);
    const latency = performance.now() - pingStartedAt;
    const info = String(await withTimeout(client.info('server'), timeoutMs));
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown version';
    const checks: CheckResult[] = [
      {
        id: 'store',
        title: 'store',
        status: 'ok',
        detail: `Redis ${version} at ${where} answers PING in ${latency.toFixed(1)} ms`,
        ms: elapsedMs(startedAt),
      },
    ];
    const settings = await withTimeout(readSettings(client), timeoutMs).catch(() => undefined);
    if (!settings) {
      checks.push({
        id: 'store_eviction',
        title: 'Redis eviction',
        status: 'warn',
        detail: 'CONFIG GET is not allowed here, so maxmemory-policy and persistence could not be read',
        fix: 'make sure maxmemory-policy is noeviction and persistence (RDB or AOF) is on',
      });
      return checks;
    }
    const policy = settings['maxmemory-policy'] ?? 'unknown';
    checks.push(
      policy === 'noeviction'
        ? {
            id: 'store_eviction',
            title: 'Redis eviction',
            status: 'ok',
            detail: 'maxmemory-policy noeviction: keys are never evicted',
          }
        : {
            id: 'store_eviction',
            title: 'Redis eviction',
            status: 'fail',
            detail: `maxmemory-policy ${policy} evicts keys when memory is full (maxmemory ${settings.maxmemory ?? 'unknown'}): sessions and grants vanish and users are signed out without a word`,
            fix: 'set maxmemory-policy noeviction (redis.conf, or CONFIG SET maxmemory-policy noeviction and CONFIG REWRITE), and give Redis enough memory',
          },
    );
    const rdb = (settings.save ?? '').trim() !== '';
    const aof = settings.appendonly === 'yes';
    checks.push(
      rdb || aof
        ? {
            id: 'store_persistence',
            title: 'Redis persistence',
            status: 'ok',
            detail: [rdb ? `RDB (save ${settings.save})` : '', aof ? 'AOF' : ''].filter(Boolean).join(' and '),
          }
        : {
            id: 'store_persistence',
            title: 'Redis persistence',
            status: 'warn',
            detail: 'no RDB snapshots (save is empty) and appendonly no: a Redis restart ends every session',
            fix: 'turn on persistence: appendonly yes (or a save schedule) in redis.conf',
          },
    );
    return checks;
  } catch (error) {
    return [
      {
        id: 'store',
        title: 'store',
        status: 'fail',
        detail: `Redis at ${where} did not answer: ${error instanceof Error ? error.message : String(error)}`,
        fix: 'check GATEHOUSE_REDIS_URL and that this host can reach Redis',
        ms: elapsedMs(startedAt),
      },
    ];
  } finally {
    client.destroy();
  }
}

async function readSettings(client: {
  sendCommand(args: string[]): Promise<unknown>;
}): Promise<Record<string, string>> {
  const settings: Record<string, string> = {};
  for (const name of ['maxmemory-policy', 'maxmemory', 'save', 'appendonly']) {
    const reply = await client.sendCommand(['CONFIG', 'GET', name]);
    // RESP2 gives [name, value]; RESP3 a map.
    const value = Array.isArray(reply) ? reply[1] : (reply as Record<string, unknown> | null)?.[name];
    if (value !== undefined && value !== null) settings[name] = String(value);
  }
  return settings;
}

/** The Redis URL without its password. */
function redactedUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.href;
  } catch {
    return 'GATEHOUSE_REDIS_URL';
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_resolve, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms).unref(),
    ),
  ]);
}
