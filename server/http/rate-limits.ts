import { isIPv6 } from 'node:net';
import type { Request, RequestHandler } from 'express';
import type { Config, RateLimit } from '../config.ts';
import { rateLimited } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RateLimiter } from '../store/rate-limiter.ts';
import type { Store } from '../store/store.ts';
import { observed } from '../observability/observability.ts';

/** Which budget an anonymous, state-creating endpoint draws on. */
export type StartKind = 'login' | 'backchannel_logout';

/** What made a credential count as failed; logged, never the credential itself. */
export type FailedCredential =
  | 'session_cookie'
  | 'bearer_handle'
  | 'identity_token'
  | 'context_id'
  | 'state'
  | 'api_token';

const failedCredentialsLimit = 'failed_credentials';

/**
 * The rate limits of issue 10: sign-in starts (per client address, per endpoint), back-channel
 * logouts (per address and in total) and failed credentials (per client address). Counters live in the
 * store's backend, so instances sharing a Redis share them. A refusal is a 429 `rate_limited`
 * AppError with `Retry-After`, rendered by the one error handler in the route's form, and one
 * `rate limited` log line naming the limit and the address.
 */
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiter | undefined>();

  constructor(
    private readonly store: Store,
    private readonly config: Config['rateLimits'],
    private readonly logger: Logger,
  ) {}

  /**
   * Middleware for an anonymous endpoint that starts a sign-in: `router.post('/device/code',
   * limits.start('device_code'), …)`. Counts one call from this address.
   */
  start(endpoint: string, kind: StartKind = 'login'): RequestHandler {
    return async (req, _res, next) => {
      await this.countStart(endpoint, clientAddress(req), kind);
      next();
    };
  }

  /** Counts one call of `endpoint` (for routes that learn late what they do, like SOAP); throws 429 over a limit. */
  async countStart(endpoint: string, address: string, kind: StartKind = 'login'): Promise<void> {
    if (kind === 'login') {
      // Per address only: a shared budget would let a few addresses spend everyone's sign-ins.
      // What the stateful starts store is bounded fairly instead (PendingQuota).
      await this.consume(`${kind}:${endpoint}`, this.config.login, addressKey(address), address);
      return;
    }
    // The address first: an address over its own limit then stops draining the shared budget.
    await this.consume(`${kind}:${endpoint}`, this.config.backchannelLogout, addressKey(address), address);
    await this.consume(`${kind}_global:${endpoint}`, this.config.backchannelLogoutGlobal, 'all', address);
  }

  /**
   * Counts a credential that reached nothing; past the limit this attempt is refused with 429
   * instead of its usual answer. Call after the lookup, only for a credential that failed: a
   * valid one is never refused, so a flood of bogus credentials cannot lock out the users who
   * share its address (a NAT, a CGNAT, a load balancer Gatehouse does not trust). Guessing
   * gains nothing from that: the secrets are 256-bit.
   */
  async failedCredential(address: string, credential: FailedCredential): Promise<void> {
    const limiter = this.limiter(failedCredentialsLimit, this.config.failedCredentials);
    if (!limiter) return;
    const state = await limiter.consume(addressKey(address));
    this.logger.info('credential refused', { credential, clientIp: address, limitReached: !state.allowed });
    if (!state.allowed) this.refuse(failedCredentialsLimit, address, state.msBeforeReset);
  }

  private async consume(name: string, limit: RateLimit | undefined, key: string, address: string): Promise<void> {
    const limiter = this.limiter(name, limit);
    if (!limiter) return;
    const state = await limiter.consume(key);
    if (!state.allowed) this.refuse(name, address, state.msBeforeReset);
  }

  private refuse(limit: string, address: string, msBeforeReset: number): never {
    this.logger.warn('rate limited', { limit, clientIp: address });
    observed().rateLimited(limit);
    throw rateLimited(msBeforeReset / 1000);
  }

  private limiter(name: string, limit: RateLimit | undefined): RateLimiter | undefined {
    if (!this.limiters.has(name)) this.limiters.set(name, limit && this.store.rateLimiter(name, limit));
    return this.limiters.get(name);
  }
}

/** The caller's address as `trust proxy` resolves it (the socket's when no trusted proxy forwarded it). */
export function clientAddress(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

function withoutPort(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) return bracketed[1]!;
  const ipv4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(address);
  return ipv4 ? ipv4[1]! : address;
}

/**
 * An address as a person reads it: without port or brackets, and an IPv4-mapped IPv6 address
 * (`::ffff:127.0.0.1`, how a dual-stack socket reports an IPv4 client) as the IPv4 address.
 */
export function plainAddress(address: string): string {
  const bare = withoutPort(address.trim());
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare)?.[1] ?? bare;
}

/**
 * The counter key for an address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64, the
 * block one host or subscriber is usually given, so rotating addresses inside it gains nothing.
 * A port (`1.2.3.4:5678`, `[2001:db8::1]:443`) and brackets are dropped first.
 */
export function addressKey(forwarded: string): string {
  // Some proxies put `ip:port` or `[ipv6]:port` in X-Forwarded-For: without the port, each of a
  // client's connections would get a counter of its own.
  const address = withoutPort(forwarded.trim());
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // An embedded IPv4 tail lies past the /64, so its form does not matter here.
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, '').toLowerCase())
    .join(':')}::/64`;
}
