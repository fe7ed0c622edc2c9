import type { Grant } from '../grants/grant-store.ts';
import type { ApiToken } from '../grants/api-token-store.ts';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      requestId: string;
      /** The grant this request reaches, when signed in (set by loadCaller). */
      grant?: Grant;
      /** How the request proved who it is: the browser session cookie or a bearer handle. */
      credential?: 'cookie' | 'bearer';
      /** The Gatehouse API token (`Authorization: Bearer gh_…`) this request came with (set by loadCaller). */
      apiToken?: ApiToken;
    }
  }
}
