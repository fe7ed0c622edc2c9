// Calls Gatehouse's proxied APIs from Gatehouse's own pages.
//
//   import { api, apiJson } from '/public/js/api.js';
//   const projects = await apiJson('/api/renku/projects');
//
// Every call carries `X-CSRF: 1` (Gatehouse refuses cookie-authenticated API calls without
// it) and the session cookie. When Gatehouse answers 401 because the session is missing or
// has ended, the browser goes to sign-in and comes back to the current page.

/** An API call that failed: `status`, Gatehouse's or the upstream's error `code`, and the parsed `body`. */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** Thrown after sign-in was started; the page is navigating away. */
export class SignInRequired extends Error {
  constructor() {
    super('Signing in again');
    this.name = 'SignInRequired';
  }
}

/**
 * `fetch` for `/api/…` paths. Resolves with the Response (any status but Gatehouse's 401);
 * on Gatehouse's 401 it sends the browser to `/auth/login?returnTo=<this page>` and rejects
 * with {@link SignInRequired}.
 */
export async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('X-CSRF', '1');
  const response = await fetch(path, { credentials: 'same-origin', ...init, headers });
  if (response.status === 401 && (await isGatehouseSignInError(response))) {
    const here = `${location.pathname}${location.search}${location.hash}`;
    location.assign(`/auth/login?returnTo=${encodeURIComponent(here)}`);
    throw new SignInRequired();
  }
  return response;
}

/** {@link api}, then the JSON body; a non-2xx answer rejects with {@link ApiError}. */
export async function apiJson(path, init = {}) {
  const response = await api(path, init);
  const type = response.headers.get('content-type') ?? '';
  const body = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) {
    const code = typeof body?.error === 'string' ? body.error : typeof body?.error?.code === 'string' ? body.error.code : `http_${response.status}`;
    const message = body?.message ?? body?.error?.userMessage ?? `The request failed (${response.status}).`;
    throw new ApiError(response.status, code, message, body);
  }
  return body;
}

// Gatehouse's own 401s (no session, session ended) say where to sign in. An upstream's 401
// passes through unchanged: signing in again would not fix it, and redirecting on it could
// loop, since the IdP session would sign the user straight back in.
async function isGatehouseSignInError(response) {
  try {
    const body = await response.clone().json();
    return typeof body?.loginUrl === 'string';
  } catch {
    return false;
  }
}
