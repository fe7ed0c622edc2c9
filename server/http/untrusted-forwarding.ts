import type { IncomingMessage } from 'node:http';
import type { Logger } from '../log.ts';

/**
 * Warns once per process when a peer that is not a trusted proxy sends X-Forwarded-For or
 * X-Forwarded-Proto. Those headers are then ignored, which is right for a client but, for a
 * load balancer missing from GATEHOUSE_TRUST_PROXY, means every user shares its address in the
 * rate limits and, behind https, gets no session cookie: the operator needs to hear of it.
 */
export function untrustedForwardingWarning(
  logger: Logger,
  trusts: (address: string, hop: number) => boolean,
): (req: IncomingMessage) => void {
  let warned = false;
  return (req) => {
    if (!warned && (req.headers['x-forwarded-for'] !== undefined || req.headers['x-forwarded-proto'] !== undefined)) {
      const peer = req.socket.remoteAddress ?? '';
      if (!trusts(peer, 0)) {
        warned = true;
        logger.warn(
          'X-Forwarded-For/-Proto from a peer that is not a trusted proxy are ignored; if it is your load balancer, add it to GATEHOUSE_TRUST_PROXY',
          { peer },
        );
      }
    }
  };
}
