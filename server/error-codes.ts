/**
 * Every error code Gatehouse answers with, and its one HTTP status. Callers (the connector page,
 * scripts, docs/apis.md) switch on these strings, so a code keeps its meaning and its status:
 * {@link AppError} takes the code and looks the status up here. SOAP faults map these codes to
 * their own union (`faultCodeFor` in soap/soap-errors.ts).
 *
 * OAuth codes keep the status their RFC gives them: `invalid_grant` and `invalid_request` are
 * 400 (RFC 6749 §5.2), `invalid_token` is 401 (RFC 6750 §3.1), the device flow's answers are
 * 400 (RFC 8628 §3.5).
 */
export const errorStatus = {
  // The request itself is wrong.
  bad_request: 400,
  bad_path: 400,
  invalid_request: 400,
  invalid_session_id: 400,
  invalid_user_code: 400,
  device_request_gone: 400,
  unknown_purpose: 400,
  entity_parse_failed: 400,
  request_aborted: 400,
  request_size_invalid: 400,
  websocket_not_allowed: 400,
  // Two session cookies on one request (one tossed from a sibling host): served as neither.
  ambiguous_session: 400,
  // A sign-in callback that cannot complete (the browser is sent to start again).
  missing_state: 400,
  unknown_state: 400,
  browser_mismatch: 400,
  missing_code: 400,
  external_context_missing: 400,
  external_login_refused: 400,
  // The IdP refused: its answer at a callback, or what the IdP adapter made of a refusal.
  idp_error: 400,
  // An `?error=` at a callback without the IdP's own `iss` (RFC 9207) when the IdP sends one.
  idp_error_untrusted: 400,
  invalid_grant: 400,
  id_token_missing: 400,
  id_token_refused: 400,
  token_exchange_failed: 400,
  refresh_failed: 400,
  client_credentials_failed: 400,
  revocation_failed: 400,
  introspection_failed: 400,
  userinfo_failed: 400,
  // OAuth 2.0 Device Authorization Grant (RFC 8628) answers at /auth/device/token.
  unsupported_grant_type: 400,
  authorization_pending: 400,
  slow_down: 400,
  expired_token: 400,
  access_denied: 400,
  // SOAP Client faults (seed 002); the fault's HTTP status is SOAP's own.
  soap_action_mismatch: 400,
  soap_bad_encoding: 400,
  soap_bad_parameter: 400,
  soap_content_type: 400,
  soap_doctype_refused: 400,
  soap_duplicate_parameter: 400,
  soap_invalid_context: 400,
  soap_invalid_identity_token: 400,
  soap_malformed: 400,
  soap_missing_parameter: 400,
  soap_must_understand: 400,
  soap_name_refused: 400,
  soap_not_envelope: 400,
  soap_pi_refused: 400,
  soap_request_url_refused: 400,
  soap_state_mismatch: 400,
  soap_too_deep: 400,
  soap_too_many_attributes: 400,
  soap_too_many_elements: 400,
  soap_too_many_namespaces: 400,
  soap_unknown_method: 400,
  soap_version_mismatch: 400,
  // Who is calling.
  unauthenticated: 401,
  session_expired: 401,
  invalid_token: 401,
  token_inactive: 401,
  // What the caller may do.
  account_mismatch: 403,
  audience_mismatch: 403,
  browser_session_required: 403,
  csrf_header_missing: 403,
  csrf_proof_missing: 403,
  // A write from another site (Sec-Fetch-Site: cross-site, or a foreign Origin).
  cross_site_request: 403,
  external_auth_disabled: 403,
  token_scope: 403,
  websocket_origin_refused: 403,
  entity_verify_failed: 403,
  // Nothing there.
  not_found: 404,
  session_not_found: 404,
  token_not_found: 404,
  unknown_upstream: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  charset_unsupported: 415,
  encoding_unsupported: 415,
  rate_limited: 429,
  websocket_limit: 429,
  // Ours, or someone we depend on.
  internal_error: 500,
  audience_unverifiable: 502,
  soap_server_failed: 502,
  token_unavailable: 502,
  upstream_response_too_large: 502,
  upstream_unreachable: 502,
  websocket_upstream_failed: 502,
  idp_client_refused: 503,
  idp_unavailable: 503,
  not_ready: 503,
  api_tokens_need_persistent_store: 503,
  soap_server_unavailable: 503,
  store_unavailable: 503,
  token_refresh_busy: 503,
  websocket_capacity: 503,
  upstream_timeout: 504,
} as const satisfies Record<string, number>;

/** A code of {@link errorStatus}. */
export type ErrorCode = keyof typeof errorStatus;

/** True when `code` is one of Gatehouse's error codes (for codes read back from the store or a framework). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(errorStatus, code);
}
