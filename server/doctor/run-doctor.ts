import { type Clock, systemClock } from '../clock.ts';
import type { Config } from '../config.ts';
import { IdpAdapter } from '../idp/idp-adapter.ts';
import { idpSettingsFor } from '../idp/idp-settings.ts';
import { createLogger, type Logger } from '../log.ts';
import { type Gatehouse, start } from '../start.ts';
import type { Upstream } from '../upstream-registry.ts';
import { checkClientCredentials, checkRedirectUris } from './check-client.ts';
import { checkConfiguration } from './check-configuration.ts';
import { checkDiscovery } from './check-discovery.ts';
import { checkIdpFeatures } from './check-idp-features.ts';
import { type DoctorReport, doctorReport } from './check-result.ts';
import { checkStore } from './check-store.ts';
import { checkUpstreams } from './check-upstreams.ts';

/** Options for {@link runDoctor}. */
export interface DoctorOptions {
  /** The environment `npm start` would read (`readEnvironment()`). */
  env: Record<string, string | undefined>;
  clock?: Clock;
  /** Log lines of the IdP adapter and of an embedded setup; default: warnings and errors to stderr. */
  logger?: Logger;
}

/**
 * Runs every check against the deployment the environment describes and returns the checklist.
 * Reads the configuration as `npm start` does; with no issuer configured, starts the embedded IdP
 * and the demo APIs through `start()`, as `npm start` does (Gatehouse and its IdP on ports of
 * their own, so a running `npm start` is not in the way), checks those, and stops them.
 */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger('warn', (line) => process.stderr.write(line));
  const { config: configured, checks } = checkConfiguration(options.env);
  if (!configured) return doctorReport(checks);

  let gatehouse: Gatehouse | undefined;
  let ownIdp: IdpAdapter | undefined;
  try {
    let config: Config = configured;
    let idp: IdpAdapter;
    let upstreams: readonly Upstream[];
    if (configured.oidc.issuer === undefined) {
      try {
        gatehouse = await start({
          env: { ...options.env, GATEHOUSE_PORT: '0', GATEHOUSE_DEV_IDP_PORT: '0' },
          clock,
          logger,
        });
      } catch (error) {
        checks.push({
          id: 'embedded_idp',
          title: 'embedded IdP',
          status: 'fail',
          detail: `the embedded IdP and demo APIs could not start: ${error instanceof Error ? error.message : String(error)}`,
          fix: 'see the message; npm start fails the same way',
        });
        checks.push(...(await checkStore(configured)));
        return doctorReport(checks);
      }
      config = gatehouse.config;
      idp = gatehouse.deps.idp;
      upstreams = gatehouse.upstreams;
      checks.push({
        id: 'embedded_idp',
        title: 'embedded IdP',
        status: 'ok',
        detail: `no GATEHOUSE_OIDC_ISSUER: started the embedded development IdP (${config.oidc.issuer}) and the demo APIs as npm start does, on ports of their own, and checked those`,
      });
    } else {
      ownIdp = new IdpAdapter(idpSettingsFor(configured), logger, clock);
      idp = ownIdp;
      upstreams = configured.proxy.upstreams ?? [];
    }
    // Resolves after the first discovery attempt, failed or not: the checks below say what failed.
    await ownIdp?.start();

    const discovery = await checkDiscovery(config, clock);
    checks.push(...discovery.checks);
    if (discovery.metadata) {
      checks.push(await checkClientCredentials(config, idp));
      checks.push(...(await checkRedirectUris(config, idp)));
      checks.push(...checkIdpFeatures(config, discovery.metadata, upstreams));
    }
    checks.push(...(await checkStore(config)));
    checks.push(...(await checkUpstreams(config, upstreams)));
    return doctorReport(checks);
  } finally {
    ownIdp?.stop();
    await gatehouse?.stop();
  }
}
