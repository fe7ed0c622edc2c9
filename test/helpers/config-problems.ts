import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../server/config.ts';

/** The problems `loadConfig(env)` reports, or [] when it accepts `env`. Any other error fails. */
export function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  return [];
}
