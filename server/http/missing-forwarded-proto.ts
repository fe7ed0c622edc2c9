import type { IncomingMessage } from 'node:http';
import type { Logger } from '../log.ts';

// Probes and scrapers call Gatehouse directly, past the proxy, by design.
const probePaths = new Set(['/healthz', '/readyz']);

/**
 * Warns once per process when GATEHOUSE_PUBLIC_URL is https but a request from a trusted proxy
 * does not say `X-Forwarded-Proto: https`. Gatehouse then takes it for plain http, and the
 * `Secure` session cookie is not set: the callback logs "signed in" and answers 302, yet the
 * browser lands back on the sign-in page. Without this warning nothing says why. (Peers that
 * are not trusted are untrusted-forwarding.ts's concern.)
 *
 * `https` is matched as Express's `req.protocol` reads the header: the first comma-separated
 * value, exactly.
 */
export function missingForwardedProtoWarning(
  logger: Logger,
  trusts: (address: string, hop: number) => boolean,
  publicUrl: string,
): (req: IncomingMessage) => void {
  if (new URL(publicUrl).protocol !== 'https:') return () => {};
  let warned = false;
  return (req) => {
    if (warned) return;
    // Node joins repeated X-Forwarded-Proto lines with ", "; the array type is only nominal.
    const header = [req.headers['x-forwarded-proto'] ?? []].flat().join(', ') || undefined;
    if (header?.split(',')[0]?.trim() === 'https') return;
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (probePaths.has(path)) return;
    const peer = req.socket.remoteAddress ?? '';
    if (!trusts(peer, 0)) return;
    warned = true;
    logger.warn(
      'a request from a trusted proxy came without X-Forwarded-Proto: https, but GATEHOUSE_PUBLIC_URL is https: Gatehouse takes it for plain http and sets no session cookie on it, so sign-ins do not stick. Make the proxy send X-Forwarded-Proto (nginx: proxy_set_header X-Forwarded-Proto $scheme; Apache: RequestHeader set X-Forwarded-Proto "https")',
      // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; the operator knows it as a.b.c.d.
      { peer: peer.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, ''), path, received: header ?? '(none)' },
    );
  };
}
