import type { SessionData } from 'express-session';
import type { AppDeps } from '../deps.ts';
import { hashHandle, randomHandle } from '../random.ts';
import type { TokenCipher } from '../grants/token-cipher.ts';
import type { SoapClient } from '../soap/soap-client.ts';
import { openExternalCredentials } from './external-credentials.ts';

const stashTtlMs = 5 * 60 * 1000;

/** Where a sign-out URL waits for `/external/signed-out?id=`; only the id's hash is a key. */
export function signOutStashKey(id: string): string {
  return `signout:${hashHandle(id)}`;
}

/**
 * The sign-out of an external session, for POST /auth/logout: SOAP Logout at the Session
 * service, then the IdP sign-out URL it names (or the one kept from ExternalLogin when Logout
 * fails: the user asked to sign out, so the local session ends regardless).
 *
 * The sign-out form's CSP `form-action` also governs the redirect that follows it. An IdP on
 * another origin (another LiveScore server's) would be blocked, so that URL is handed to
 * `/external/signed-out`, whose page continues with a plain navigation.
 */
export function externalSignOut(
  deps: AppDeps,
  soap: SoapClient,
  cipher: TokenCipher,
  formActionOrigins: () => readonly string[],
) {
  const { store, logger } = deps;
  return async (external: NonNullable<SessionData['external']>, clientIp?: string): Promise<string | undefined> => {
    const credentials = openExternalCredentials(cipher, external);
    if (!credentials) {
      // Sealed under another session secret (rotated): sign out locally.
      logger.warn('external credentials could not be opened; signing out locally');
      return undefined;
    }
    let signOutUrl = credentials.signOutUrl || undefined;
    try {
      signOutUrl = (await soap.logout(credentials.identityToken, clientIp)).signOutUrl ?? signOutUrl;
    } catch (error) {
      logger.warn('external Logout failed; signing out locally', {
        error: error instanceof Error ? error : String(error),
      });
    }
    if (!signOutUrl) return undefined;
    if (formActionOrigins().includes(new URL(signOutUrl).origin)) return signOutUrl;
    const id = randomHandle();
    await store.set(signOutStashKey(id), signOutUrl, stashTtlMs);
    return `/external/signed-out?id=${id}`;
  };
}
