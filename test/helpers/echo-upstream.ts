import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';

/** What the echo upstream saw of one complete request. */
export interface EchoRecord {
  method: string;
  /** The raw request target, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The bearer token, for leak checks; never sent back. */
  token: string | undefined;
  claims: JWTPayload | undefined;
  bodyBytes: number;
}

/**
 * A real upstream for proxy tests. It verifies the bearer JWT it receives (signature via the
 * IdP's JWKS, issuer, and its `audience` when set), records every complete request, and
 * answers with what it saw, the Authorization value redacted. Special paths (under any base):
 * `/set-cookie`, `/hop-headers`, `/redirect`, `/slow` (never answers), `/bytes/<n>` (answers n bytes),
 * `/drip` (sends a first chunk, then waits for {@link releaseDrip}), `/sized/<n>` (n bytes with a
 * Content-Length), `/chunked/<n>` (n bytes in 1 KiB chunks, no length). A hostile upstream's paths:
 * `/echo-token-error` (400 quoting the Authorization it got; `/echo-token-error/big` the same past
 * 64 KiB, `/echo-token-error/gzip` gzip-encoded), `/echo-token-header` (200 with the
 * Authorization in a header), `/hostile-headers` (CORS, HSTS, Clear-Site-Data, Refresh, CSP,
 * cookies), `/cacheable` (Cache-Control public with s-maxage, CDN-Cache-Control, Surrogate-Control). Like many frameworks it honours X-HTTP-Method-Override and its kin, and routes by
 * X-Original-URL. `rejectNext` makes the next
 * request get 401 `invalid_token` whatever its token. {@link nextBodyChunk} resolves when a
 * request body's first chunk arrives: proof that bodies are not buffered whole on the way.
 */
export class EchoUpstream {
  readonly requests: EchoRecord[] = [];
  /** Requests that arrived, complete or not. */
  arrivals = 0;
  rejectNext = 0;
  /** The issuer whose tokens are verified; set once Gatehouse has started its IdP. */
  issuer: string | undefined;
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  private server: Server | undefined;
  private dripRelease: (() => void) | undefined;
  private chunkSeen: (() => void) | undefined;
  url = '';

  constructor(private readonly audience?: string) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.arrivals++;
      const chunked = /\/chunked\/(\d+)$/.exec(req.url!.split('?')[0]!);
      if (chunked) {
        this.requests.push({
          method: req.method!,
          url: req.url!,
          headers: req.headers,
          token: undefined,
          claims: undefined,
          bodyBytes: 0,
        });
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        for (let left = Number(chunked[1]); left > 0; left -= 1024) res.write('x'.repeat(Math.min(1024, left)));
        res.end();
        return;
      }
      if (req.url!.split('?')[0]!.endsWith('/echo-token-error/gzip')) {
        this.requests.push({
          method: req.method!,
          url: req.url!,
          headers: req.headers,
          token: undefined,
          claims: undefined,
          bodyBytes: 0,
        });
        res.writeHead(401, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(gzipSync(JSON.stringify({ error: 'unauthorized', received: req.headers.authorization ?? '' })));
        return;
      }
      if (req.url!.split('?')[0]!.endsWith('/drip')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first-chunk\n');
        this.dripRelease = () => res.end('rest\n');
        return;
      }
      let bodyBytes = 0;
      req.on('data', (chunk: Buffer) => {
        if (bodyBytes === 0) this.chunkSeen?.();
        bodyBytes += chunk.length;
      });
      req.on('end', () => {
        void this.answer(req.method!, req.url!, req.headers, bodyBytes).then(({ status, headers, body }) => {
          if (status === 0) return; // /slow: say nothing
          res.writeHead(status, headers);
          res.end(body);
        });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Ends the response of a pending `/drip` request. */
  releaseDrip(): void {
    this.dripRelease?.();
  }

  /** Resolves when the next request body starts arriving. */
  nextBodyChunk(): Promise<void> {
    return new Promise((resolve) => {
      this.chunkSeen = resolve;
    });
  }

  /** Tokens received so far. */
  get tokens(): string[] {
    return this.requests.flatMap((r) => (r.token ? [r.token] : []));
  }

  private async answer(
    method: string,
    url: string,
    headers: IncomingHttpHeaders,
    bodyBytes: number,
  ): Promise<{ status: number; headers: Record<string, string | string[]>; body: string }> {
    const token = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
    let claims: JWTPayload | undefined;
    let invalid: string | undefined;
    if (token && this.issuer) {
      try {
        this.jwks ??= createRemoteJWKSet(new URL(`${this.issuer}/jwks`));
        ({ payload: claims } = await jwtVerify(token, this.jwks, {
          issuer: this.issuer,
          ...(this.audience ? { audience: this.audience } : {}),
        }));
      } catch (error) {
        invalid = (error as Error).message;
      }
    }
    // Like Express's method-override or IIS's URL rewrite: the header wins over the request line.
    const override = headers['x-http-method-override'] ?? headers['x-http-method'] ?? headers['x-method-override'];
    if (typeof override === 'string') method = override.toUpperCase();
    if (typeof headers['x-original-url'] === 'string') url = headers['x-original-url'];
    this.requests.push({ method, url, headers, token, claims, bodyBytes });
    const path = url.split('?')[0]!;
    const json = { 'content-type': 'application/json' };
    const authorization = headers.authorization ?? '';
    if (path.endsWith('/echo-token-error')) {
      return {
        status: 400,
        headers: json,
        body: JSON.stringify({
          error: 'bad_request',
          received: { authorization, token: encodeURIComponent(token ?? '') },
        }),
      };
    }
    if (path.endsWith('/echo-token-error/big')) {
      return {
        status: 500,
        headers: { 'content-type': 'text/plain' },
        body: `received ${authorization}\n${'x'.repeat(70 * 1024)}\n${authorization}`,
      };
    }
    if (path.endsWith('/echo-token-header')) {
      return {
        status: 200,
        headers: {
          ...json,
          'x-debug-authorization': authorization,
          'x-debug-safe': 'kept',
          link: `<https://debug.example/?t=${encodeURIComponent(token ?? '')}>`,
        },
        body: '{"ok":true}',
      };
    }
    if (path.endsWith('/cacheable')) {
      return {
        status: 200,
        headers: {
          ...json,
          'cache-control': 'public, max-age=60, s-maxage=300, proxy-revalidate',
          'cdn-cache-control': 'max-age=600',
          'surrogate-control': 'max-age=600',
        },
        body: JSON.stringify({ for: token === undefined ? 'anyone' : claims?.sub }),
      };
    }
    if (path.endsWith('/hostile-headers')) {
      return {
        status: 200,
        headers: {
          ...json,
          'access-control-allow-origin': 'https://attacker.example',
          'access-control-allow-credentials': 'true',
          'access-control-expose-headers': '*',
          'strict-transport-security': 'max-age=0',
          'clear-site-data': '"cookies", "storage"',
          refresh: '0;url=https://attacker.example/',
          'set-cookie': 'gatehouse_session=planted; Path=/',
          'content-security-policy': "default-src * 'unsafe-inline' 'unsafe-eval'",
          'x-frame-options': 'ALLOWALL',
          'service-worker-allowed': '/',
          nel: '{"report_to":"default","max_age":31536000,"include_subdomains":true,"success_fraction":1}',
          'report-to': '{"group":"default","max_age":31536000,"endpoints":[{"url":"https://attacker.example/r"}]}',
          'reporting-endpoints': 'default="https://attacker.example/r"',
          'x-upstream-public': 'visible',
        },
        body: '{"ok":true}',
      };
    }
    const sized = /\/sized\/(\d+)$/.exec(path);
    if (sized)
      return {
        status: 200,
        headers: { 'content-type': 'application/octet-stream', 'content-length': sized[1]! },
        body: 'x'.repeat(Number(sized[1])),
      };
    if (this.rejectNext > 0 || invalid) {
      if (this.rejectNext > 0) this.rejectNext--;
      return {
        status: 401,
        headers: { ...json, 'www-authenticate': 'Bearer error="invalid_token"' },
        body: JSON.stringify({ error: 'invalid_token' }),
      };
    }
    if (path.endsWith('/slow')) return { status: 0, headers: {}, body: '' };
    if (path.endsWith('/set-cookie')) {
      return {
        status: 200,
        headers: { ...json, 'set-cookie': ['upstream_session=abc; Path=/', 'other=1'] },
        body: '{"ok":true}',
      };
    }
    if (path.endsWith('/hop-headers')) {
      return {
        status: 200,
        headers: {
          ...json,
          connection: 'x-upstream-private',
          'x-upstream-private': 'secret',
          'x-upstream-public': 'visible',
          'proxy-authenticate': 'Basic',
        },
        body: '{"ok":true}',
      };
    }
    if (path.endsWith('/redirect')) {
      return {
        status: 302,
        headers: { location: `${this.url}${path.replace(/\/redirect$/, '/elsewhere')}` },
        body: '',
      };
    }
    const bytes = /\/bytes\/(\d+)$/.exec(path);
    if (bytes)
      return {
        status: 200,
        headers: { 'content-type': 'application/octet-stream' },
        body: 'x'.repeat(Number(bytes[1])),
      };
    const shown = { ...headers, ...(headers.authorization ? { authorization: 'Bearer [redacted]' } : {}) };
    return {
      status: 200,
      headers: json,
      body: JSON.stringify({
        method,
        url,
        headers: shown,
        aud: claims?.aud ?? null,
        sub: claims?.sub ?? null,
        bodyBytes,
      }),
    };
  }
}
