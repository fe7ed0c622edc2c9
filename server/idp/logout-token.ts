import { createRemoteJWKSet, errors, jwtVerify, type JWTHeaderParameters, type JWTPayload } from 'jose';
import type { Clock } from '../clock.ts';
import { AppError, idpUnavailable } from '../errors.ts';
import type { Store } from '../store/store.ts';

/** What a valid logout_token asks to end: one IdP session (`sid`), or every session of `sub`. */
export interface LogoutToken {
  sid?: string;
  sub?: string;
  jti: string;
  /** When the token could no longer pass the checks: its `jti` is remembered until then. */
  acceptableUntilMs: number;
}

/** What {@link LogoutTokenVerifier} needs to know about the IdP and our registration there. */
export interface LogoutTokenSettings {
  issuer: string;
  clientId: string;
  /** The IdP's `jwks_uri`, known once discovery succeeded. */
  jwksUri: () => string | undefined;
  /** Remembers the `jti`s seen, across instances. */
  store: Store;
  clock: Clock;
}

const backchannelLogoutEvent = 'http://schemas.openid.net/event/backchannel-logout';
// Asymmetric algorithms only, as for id_tokens: never `none`, never a shared-secret HMAC.
const algorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
// IdPs send logout tokens at once and give them minutes at most (oidc-provider: 2).
const maxAgeSeconds = 300;
const clockToleranceSeconds = 30;
// Explicit typing (Back-Channel Logout 1.0 §2.4) names `logout+jwt`; IdPs that predate it send
// `JWT` or nothing. Any other type is a token made for something else (`at+jwt`, `secevent+jwt`).
const acceptedTypes = new Set(['logout+jwt', 'jwt']);

/**
 * Validates a `logout_token` as OpenID Connect Back-Channel Logout 1.0 §2.6 requires:
 * signature with the IdP's keys, a `typ` of `logout+jwt` or `JWT` (or none), `iss`, `aud`
 * (this client and no other audience), `iat` (and `exp` when present) with a small clock
 * skew, the back-channel-logout `events` member, `sid` or `sub`, no `nonce`, and a `jti` not
 * seen before (on any instance: the store remembers it while the token could be accepted).
 * A token without `exp` (IdPs that predate the final spec) passes only while its `iat` is
 * within the max age. An invalid token is a 400 `invalid_request` whose `reason` names the rule.
 */
export class LogoutTokenVerifier {
  private jwks: { uri: string; keys: ReturnType<typeof createRemoteJWKSet> } | undefined;

  constructor(private readonly settings: LogoutTokenSettings) {}

  async verify(logoutToken: string): Promise<LogoutToken> {
    const { issuer, clientId, store, clock } = this.settings;
    let payload: JWTPayload;
    let header: JWTHeaderParameters;
    try {
      ({ payload, protectedHeader: header } = await jwtVerify(logoutToken, this.keys(), {
        issuer,
        audience: clientId,
        algorithms,
        clockTolerance: clockToleranceSeconds,
        maxTokenAge: maxAgeSeconds,
        currentDate: new Date(clock()),
        requiredClaims: ['iat'],
      }));
    } catch (error) {
      throw translateJoseError(error);
    }
    // Media types are case-insensitive and may omit "application/" (RFC 7515 §4.1.9).
    if (header.typ !== undefined && !acceptedTypes.has(header.typ.toLowerCase().replace(/^application\//, ''))) {
      throw invalidLogoutToken('typ_invalid', 'its "typ" header is neither logout+jwt nor JWT');
    }
    // As for an id_token (OpenID Connect Core §3.1.3.7): other audiences are parties this client
    // does not trust with ending its sessions.
    if (Array.isArray(payload.aud) && payload.aud.some((audience) => audience !== clientId)) {
      throw invalidLogoutToken('aud_untrusted', '"aud" names audiences besides this client');
    }

    const event = (payload.events as Record<string, unknown> | undefined)?.[backchannelLogoutEvent];
    if (
      typeof payload.events !== 'object' ||
      payload.events === null ||
      typeof event !== 'object' ||
      event === null ||
      Array.isArray(event)
    ) {
      throw invalidLogoutToken('events_invalid', `its "events" claim has no ${backchannelLogoutEvent} object`);
    }
    if (payload.nonce !== undefined)
      throw invalidLogoutToken('nonce_present', 'it carries a nonce (is it an id_token?)');
    const sid = nonEmptyString(payload.sid);
    const sub = nonEmptyString(payload.sub);
    if ((payload.sid !== undefined && !sid) || (payload.sub !== undefined && !sub)) {
      throw invalidLogoutToken('sid_or_sub_invalid', '"sid" and "sub" must be non-empty strings');
    }
    if (!sid && !sub)
      throw invalidLogoutToken('sid_and_sub_missing', 'it names neither a session ("sid") nor a user ("sub")');
    const jti = nonEmptyString(payload.jti);
    if (!jti || jti.length > 256) throw invalidLogoutToken('jti_invalid', 'it has no usable "jti"');

    // Remembered for as long as the token itself could pass the checks above: `pending` until
    // its logout is carried out ({@link markDone}), so a delivery that failed half-way (the
    // store went down) is accepted again when the IdP retries it. Ending grants twice is harmless.
    const acceptableUntilMs = (payload.iat! + maxAgeSeconds + clockToleranceSeconds) * 1000;
    const key = jtiKey(jti);
    const firstTime = await store.setIfAbsent(key, pending, Math.max(1000, acceptableUntilMs - clock()));
    if (!firstTime && (await store.get(key)) !== pending)
      throw invalidLogoutToken('jti_replayed', 'this token was delivered before');

    return { ...(sid ? { sid } : {}), ...(sub ? { sub } : {}), jti, acceptableUntilMs };
  }

  /** Records that the token's logout was carried out: from now on its `jti` is a replay. */
  async markDone(token: LogoutToken): Promise<void> {
    await this.settings.store.set(
      jtiKey(token.jti),
      'done',
      Math.max(1000, token.acceptableUntilMs - this.settings.clock()),
    );
  }

  private keys(): ReturnType<typeof createRemoteJWKSet> {
    const uri = this.settings.jwksUri();
    if (!uri) throw idpUnavailable(new Error('the IdP has not been discovered yet, so its keys are unknown'));
    if (this.jwks?.uri !== uri) this.jwks = { uri, keys: createRemoteJWKSet(new URL(uri)) };
    return this.jwks.keys;
  }
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function invalidLogoutToken(reason: string, why: string, cause?: unknown): AppError {
  return new AppError('invalid_request', `The logout_token was refused: ${why}.`, { cause, details: { reason } });
}

/** jose's verdicts as 400s with a reason; failing to fetch the IdP's keys is the IdP's outage (503). */
function translateJoseError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof errors.JWTExpired) {
    // jose reports a token older than maxTokenAge as expired too, naming "iat".
    return error.claim === 'iat'
      ? invalidLogoutToken('iat_invalid', '"iat" is too old', error)
      : invalidLogoutToken('expired', 'it has expired', error);
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const why =
      error.claim === 'iat'
        ? '"iat" is missing, too old or in the future'
        : `"${error.claim}" is ${error.reason === 'missing' ? 'missing' : 'wrong'}`;
    return invalidLogoutToken(`${error.claim}_invalid`, why, error);
  }
  if (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JOSEAlgNotAllowed
  ) {
    return invalidLogoutToken('signature_invalid', 'its signature is not from the identity provider', error);
  }
  if (
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    error instanceof TypeError ||
    (error instanceof errors.JOSEError && error.code === 'ERR_JOSE_GENERIC')
  ) {
    return idpUnavailable(error); // the IdP's key set could not be fetched: not the token's fault
  }
  return invalidLogoutToken('malformed', 'it is not a signed JWT', error);
}

const pending = 'pending';

function jtiKey(jti: string): string {
  return `jti:${jti}`;
}
