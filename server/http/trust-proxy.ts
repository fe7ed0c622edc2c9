import proxyaddr from 'proxy-addr';
import type { IncomingMessage } from 'node:http';

/** Whether the peer at `hop` (0 = the socket's) is a trusted proxy. */
export type TrustProxy = (address: string, hop: number) => boolean;

/**
 * GATEHOUSE_TRUST_PROXY as a function, the way Express compiles its `trust proxy` setting: a
 * hop count, or addresses and ranges (`loopback`, `10.0.0.0/8`). Both the Express app and the
 * `/api` fast path use it, so they agree on who the client is.
 */
export function trustProxy(setting: number | readonly string[]): TrustProxy {
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return proxyaddr.compile([...setting]);
}

/** The client's address: the first hop from the socket that is not a trusted proxy. */
export function clientAddressOf(req: IncomingMessage, trust: TrustProxy): string {
  return proxyaddr(req, trust);
}

/** GATEHOUSE_TRUST_PROXY in words, for the start banner: which peers may speak for the client. */
export function describeTrustProxy(setting: number | readonly string[]): string {
  if (typeof setting !== 'number') return setting.join(', ');
  if (setting === 0) return 'none (0: X-Forwarded-For and -Proto are ignored from every peer)';
  return `the ${setting === 1 ? 'nearest hop' : `${setting} nearest hops`}, whatever their address`;
}
