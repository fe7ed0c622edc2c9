// Calls Gatehouse's proxied APIs from Gatehouse's own pages.
//
//   import { api, apiJson } from '/public/js/api.js';
//   const projects = await apiJson('/api/renku/projects');
//
// Every call carries `X-CSRF: 1` (Gatehouse refuses cookie-authenticated API calls without
// it) and the session cookie. When Gatehouse answers 401 because the session is missing or
// has ended, the browser goes to sign-in and comes back to the current page.

/** @import { ApiInit } from './types.js' */

/** An API call that failed: `status`, Gatehouse's or the upstream's error `code`, and the parsed `body`. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {unknown} body The parsed JSON body, or the text of a body that is not JSON.
   */
  constructor(status, code, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/**
 * Gatehouse answered 401: the page is navigating to sign-in, or, with `signIn: 'manual'`, the
 * page must offer it. `code` is Gatehouse's reason: `unauthenticated` or `session_expired`.
 */
export class SignInRequired extends Error {
  /** @param {string} [code] */
  constructor(code = 'unauthenticated') {
    super('Signing in again');
    this.name = 'SignInRequired';
    this.code = code;
  }
}

/**
 * `fetch` for `/api/…` paths. Resolves with the Response (any status but Gatehouse's 401);
 * on Gatehouse's 401 it sends the browser to `/auth/login?returnTo=<this page>` and rejects
 * with {@link SignInRequired}. With `init.signIn = 'manual'` it only rejects, so a page in the
 * middle of something can say why and offer its own "Sign in again".
 * @param {string} path
 * @param {ApiInit} [init]
 * @returns {Promise<Response>}
 */
export async function api(path, { signIn = 'redirect', ...init } = {}) {
  const headers = new Headers(init.headers);
  headers.set('X-CSRF', '1');
  const response = await fetch(path, { credentials: 'same-origin', ...init, headers });
  const signInError = response.status === 401 ? await gatehouseSignInError(response) : undefined;
  if (signInError) {
    if (signIn === 'manual') throw new SignInRequired(signInError);
    const here = `${location.pathname}${location.search}${location.hash}`;
    location.assign(`/auth/login?returnTo=${encodeURIComponent(here)}`);
    throw new SignInRequired(signInError);
  }
  return response;
}

/**
 * {@link api}, then the JSON body; a non-2xx answer rejects with {@link ApiError}.
 * @param {string} path
 * @param {ApiInit} [init]
 * @returns {Promise<any>} The body as the API sent it: callers check each field they read.
 */
export async function apiJson(path, init = {}) {
  const response = await api(path, init);
  const type = response.headers.get('content-type') ?? '';
  const body = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) {
    const code =
      typeof body?.error === 'string'
        ? body.error
        : typeof body?.error?.code === 'string'
          ? body.error.code
          : `http_${response.status}`;
    const message = body?.message ?? body?.error?.userMessage ?? `The request failed (${response.status}).`;
    throw new ApiError(response.status, code, message, body);
  }
  return body;
}

// Gatehouse's own 401s (no session, session ended) say where to sign in. An upstream's 401
// passes through unchanged: signing in again would not fix it, and redirecting on it could
// loop, since the IdP session would sign the user straight back in.
// Returns Gatehouse's error code for its own 401, undefined for an upstream's.
/**
 * @param {Response} response
 * @returns {Promise<string | undefined>}
 */
async function gatehouseSignInError(response) {
  try {
    const body = await response.clone().json();
    if (typeof body?.loginUrl !== 'string') return undefined;
    return typeof body.error === 'string' ? body.error : 'unauthenticated';
  } catch {
    return undefined;
  }
}
