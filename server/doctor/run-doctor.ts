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
import { type CheckResult, type DoctorReport, doctorReport } from './check-result.ts';
import { checkStore } from './check-store.ts';
import { checkRunningGatehouse } from './check-running.ts';
import { checkUpstreams } from './check-upstreams.ts';

/** How the lines name the copy of the embedded IdP and demo APIs doctor starts. */
const copyLabels = { idp: '[embedded IdP]', renku: '[demo Renku API]', dataverse: '[demo Dataverse API]' };

/**
 * The checks with the copy's addresses (random ports nobody configured, gone once doctor ends)
 * replaced by what they are, so no line sends anyone looking for them.
 */
function withoutCopyAddresses(checks: CheckResult[], copy: Gatehouse): CheckResult[] {
  const replacements: Array<[string, string]> = [[copy.config.oidc.issuer!, copyLabels.idp]];
  if (copy.demoApis) {
    replacements.push(
      [copy.demoApis.renkuWebUrl, copyLabels.renku],
      [copy.demoApis.dataverseUrl, copyLabels.dataverse],
    );
  }
  const scrub = (text: string): string =>
    replacements.reduce((result, [address, label]) => result.split(address).join(label), text);
  return checks.map((check) => ({
    ...check,
    detail: scrub(check.detail),
    ...(check.fix === undefined ? {} : { fix: scrub(check.fix) }),
  }));
}

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
 * Reads the configuration as `npm start` does, and first asks the Gatehouse running at its public
 * URL, if any, whether it is ready. With no issuer configured, the embedded IdP `npm start` runs
 * cannot be checked from outside (its client secret lives in that process only), so doctor starts
 * a copy through `start()`, registered for the configured public URL (on ports of its own, so the
 * running one is not in the way), checks it, and stops it; its throwaway addresses are named by
 * what they are, never by port.
 */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger('warn', (line) => process.stderr.write(line));
  const { config: configured, checks } = checkConfiguration(options.env);
  if (!configured) return doctorReport(checks);
  checks.push(await checkRunningGatehouse(configured));

  let gatehouse: Gatehouse | undefined;
  let ownIdp: IdpAdapter | undefined;
  try {
    let config: Config = configured;
    let idp: IdpAdapter;
    let upstreams: readonly Upstream[];
    if (configured.oidc.issuer === undefined) {
      try {
        gatehouse = await start({
          // The redirect URIs are registered and checked for the configured public URL, as npm start registers them.
          env: {
            ...options.env,
            GATEHOUSE_PORT: '0',
            GATEHOUSE_DEV_IDP_PORT: '0',
            GATEHOUSE_PUBLIC_URL: configured.publicUrl,
          },
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
      const where = configured.devIdpPort ? `http://127.0.0.1:${configured.devIdpPort}` : 'a free port';
      checks.push({
        id: 'embedded_idp',
        title: 'embedded IdP',
        status: 'ok',
        detail: `no GATEHOUSE_OIDC_ISSUER: checking the embedded development IdP that npm start runs at ${where}, and the demo APIs. Its client secret lives only in that process, so doctor checks a copy started the same way (named ${copyLabels.idp} below)`,
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
    return doctorReport(gatehouse ? withoutCopyAddresses(checks, gatehouse) : checks);
  } finally {
    ownIdp?.stop();
    await gatehouse?.stop();
  }
}
