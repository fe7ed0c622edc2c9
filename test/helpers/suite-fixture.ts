import { after, before } from 'node:test';
import type { StartOptions } from '../../server/start.ts';
import { startGatehouse, type TestGatehouse } from './harness.ts';

/**
 * Starts `start()` before the tests of the enclosing `describe` (or file) and stops it after
 * them. The returned object stands for the started one, so tests read `fixture.url` directly;
 * touching it outside those tests is an error.
 */
export function suiteFixture<T extends { stop(): Promise<void> }>(start: () => Promise<T>): T {
  let started: T | undefined;
  before(async () => {
    started = await start();
  });
  after(async () => {
    await started?.stop();
    started = undefined;
  });
  const current = (): T => started ?? assert(`used outside the tests of the suite that starts it`);
  return new Proxy({} as T, {
    get: (_, key) => Reflect.get(current(), key),
    has: (_, key) => Reflect.has(current(), key),
    ownKeys: () => Reflect.ownKeys(current()),
    getOwnPropertyDescriptor: (_, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(current(), key);
      return descriptor && { ...descriptor, configurable: true };
    },
  });
}

function assert(message: string): never {
  throw new Error(message);
}

/** A Gatehouse ({@link startGatehouse}) for the tests of the enclosing `describe` or file. */
export function gatehouseForSuite(
  env: Record<string, string> = {},
  options: Omit<StartOptions, 'env' | 'logger'> = {},
): TestGatehouse {
  return suiteFixture(() => startGatehouse(env, options));
}
