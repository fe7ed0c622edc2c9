import { type Clock, systemClock } from '../clock.ts';
import type { Config } from '../config.ts';
import { checkClientCredentials, type ClientProbe } from './check-client.ts';
import { checkDiscovery } from './check-discovery.ts';
import { type CheckResult, type DoctorReport, doctorReport } from './check-result.ts';

/** The ids of the checks {@link runFastChecks} runs, which the start banner sums up. */
export const fastCheckIds = ['discovery', 'issuer', 'idp_https', 'jwks', 'clock', 'client_credentials'] as const;

/**
 * Doctor's fast checks for the start banner: discovery (with issuer, endpoints, keys), the
 * clock, and the client credentials. One made-up-code token request; the public-client probe
 * (a second request with a wrong secret) is left to `npm run doctor`, so a restart loop never
 * looks like password guessing to the IdP.
 */
export async function runFastChecks(
  config: Config,
  idp: ClientProbe,
  clock: Clock = systemClock,
): Promise<DoctorReport> {
  const discovery = await checkDiscovery(config, clock);
  const checks: CheckResult[] = [...discovery.checks];
  if (discovery.metadata) checks.push(await checkClientCredentials(config, idp, { publicClientProbe: false }));
  return doctorReport(checks);
}
