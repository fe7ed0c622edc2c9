import { type Config, ConfigError, loadConfig } from '../config.ts';
import type { CheckResult } from './check-result.ts';

/**
 * Loads the configuration as `npm start` does. Every problem becomes its own ✗ line naming the
 * variable; a configuration that loads is one ✓ line saying what Gatehouse will run with.
 */
export function checkConfiguration(env: Record<string, string | undefined>): {
  config?: Config;
  checks: CheckResult[];
} {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return {
      checks: error.problems.map((problem) => {
        const variable = /^(GATEHOUSE_[A-Z0-9_]+)/.exec(problem)?.[1];
        return {
          id: 'configuration',
          title: 'configuration',
          status: 'fail',
          detail: problem,
          fix: variable ? `set ${variable} (see .env.example)` : 'see .env.example',
        };
      }),
    };
  }
  const idp = config.oidc.issuer ?? 'the embedded development IdP';
  return {
    config,
    checks: [
      {
        id: 'configuration',
        title: 'configuration',
        status: 'ok',
        detail: `loads: ${config.production ? 'production' : 'development'}, IdP ${idp}, client "${config.oidc.clientId}" (${config.oidc.clientAuth}), ${config.store} store, public URL ${config.publicUrl}`,
      },
    ],
  };
}
