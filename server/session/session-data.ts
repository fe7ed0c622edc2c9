import 'express-session';

declare module 'express-session' {
  interface SessionData {
    /** The grant this browser session reaches. */
    grantId?: string;
    /** Per-session token for Gatehouse's own HTML forms (logout). */
    csrfToken?: string;
    createdAt?: number;
    lastSeenAt?: number;
    /**
     * When signed in through the SOAP flow: the workspace, and the IdentityToken and sign-out
     * URL sealed (see external/external-credentials.ts).
     */
    external?: { workspaceId: string; sealedCredentials: string };
  }
}
