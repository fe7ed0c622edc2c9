// Header lists that more than one module needs, kept once (lower case).

/** RFC 9110 §7.6.1 connection-specific fields, plus the non-standard ones proxies still meet: never passed on in either direction. */
export const hopByHopHeaders: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
];

/**
 * Headers Gatehouse sets or strips itself on a proxied request: an upstream's declared static
 * `headers` may not name them (they would smuggle a second value past the proxy's own).
 */
export const reservedRequestHeaders: ReadonlySet<string> = new Set([
  ...hopByHopHeaders,
  'host',
  'cookie',
  'authorization',
  'content-length',
  'expect',
  'forwarded',
  'x-request-id',
]);
