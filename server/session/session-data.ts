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
    /**
     * The API token just created, until its one-time page (`/tokens/<id>/created`) has shown
     * it: its id and its secret, sealed. Taken, so a reload shows it no more.
     */
    createdApiToken?: { id: string; sealedSecret: string };
  }
}
