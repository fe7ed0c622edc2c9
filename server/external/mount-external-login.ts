import type { AppDeps, AppExtensions } from '../deps.ts';
import { TokenCipher } from '../grants/token-cipher.ts';
import { renderFault } from '../soap/render-fault.ts';
import { SessionService } from '../soap/session-service.ts';
import { sessionRouter } from '../soap/session-router.ts';
import { SoapClient } from '../soap/soap-client.ts';
import { externalRouter } from './external-router.ts';
import { externalSignOut } from './external-sign-out.ts';

/**
 * Adds the LiveScore-style external login to the app: the SOAP Session service at `/Session`
 * (no browser session), its browser side at `/external`, SOAP Faults in the error handler, the
 * login page's second way in, BypassLoginPage, and the external branch of sign-out.
 */
export function mountExternalLogin(extensions: AppExtensions, deps: AppDeps): void {
  const { config, idp } = deps;
  const soap = new SoapClient(config.soap.url, config.oidc.timeoutMs);
  (extensions.sessionless ??= []).push([
    '/Session',
    sessionRouter(new SessionService(deps), `${config.publicUrl}/Session`),
  ]);
  // The session record keeps the IdentityToken and sign-out URL sealed, like tokens at rest.
  const cipher = new TokenCipher(config.session.secrets);
  (extensions.routers ??= []).push(['/external', externalRouter(deps, soap, cipher)]);
  extensions.renderFault = renderFault;
  extensions.externalLogin = config.soap.externalAuth;
  extensions.bypassLoginPage = config.soap.bypassLoginPage;
  // The origins createApp's CSP lets the sign-out form redirect to, read when a user signs out.
  const formActionOrigins = () => [
    new URL(config.publicUrl).origin,
    new URL(idp.issuer).origin,
    ...(extensions.formActionOrigins ?? []),
  ];
  extensions.signOutExternal = externalSignOut(deps, soap, cipher, formActionOrigins);
}
