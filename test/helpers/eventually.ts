import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs `check` until it passes, for what settles on its own time (a client reconnecting, Redis
 * expiring a key, a server starting): it passes when it neither throws nor returns `false`.
 * Fails naming `what`, with the last error, after `timeoutMs`. Returns what the check returned.
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  what: string,
  { timeoutMs = 5000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<Exclude<T, false>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last: unknown;
    try {
      const result = await check();
      if (result !== false) return result as Exclude<T, false>;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline)
      assert.fail(
        `not within ${timeoutMs} ms: ${what}${last ? ` (last: ${last instanceof Error ? last.message : String(last)})` : ''}`,
      );
    await sleep(intervalMs);
  }
}
