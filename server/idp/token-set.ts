/** The tokens one login at the IdP gave us. Never leaves the server. */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  /** Milliseconds since the epoch; undefined when the IdP did not say. */
  expiresAt?: number;
  /** When the refresh token ends, when the IdP says so (Keycloak's `refresh_expires_in`). */
  refreshExpiresAt?: number;
  scope?: string;
}
