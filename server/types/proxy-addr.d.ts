// proxy-addr (how Express computes req.ip from X-Forwarded-For and `trust proxy`) ships no types.
declare module 'proxy-addr' {
  import type { IncomingMessage } from 'node:http';
  type Trust = (address: string, hop: number) => boolean;
  /** The client's address: the first hop the `trust` function does not trust. */
  function proxyaddr(req: IncomingMessage, trust: Trust): string;
  namespace proxyaddr {
    /** Compiles addresses, ranges and names (`loopback`, `linklocal`, `uniquelocal`) into a trust function. */
    function compile(value: string | string[]): Trust;
  }
  export default proxyaddr;
}
