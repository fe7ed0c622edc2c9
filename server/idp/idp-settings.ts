import type { Config } from '../config.ts';
import type { IdpSettings } from './idp-adapter.ts';

/**
 * The IdP adapter's settings from the configuration: `start()` and `npm run doctor` build their
 * adapters from this one mapping, so doctor talks to the IdP exactly as Gatehouse will.
 * `config.oidc.issuer` must be set (configured, or the embedded IdP's after `withEmbeddedIdp`).
 */
export function idpSettingsFor(config: Config, extra: { retryBaseMs?: number } = {}): IdpSettings {
  return {
    issuer: config.oidc.issuer!,
    clientId: config.oidc.clientId,
    ...(config.oidc.clientSecret ? { clientSecret: config.oidc.clientSecret } : {}),
    clientAuth: config.oidc.clientAuth,
    ...(config.oidc.privateKey ? { privateKey: config.oidc.privateKey } : {}),
    ...(config.oidc.privateKeyId ? { privateKeyId: config.oidc.privateKeyId } : {}),
    timeoutMs: config.oidc.timeoutMs,
    idTokenAlg: config.oidc.idTokenAlg,
    clockToleranceMs: config.oidc.clockToleranceMs,
    userInfo: config.oidc.userInfo,
    scopes: config.oidc.scopes,
    allowHttp: !config.production,
    ...(extra.retryBaseMs ? { retryBaseMs: extra.retryBaseMs } : {}),
  };
}
