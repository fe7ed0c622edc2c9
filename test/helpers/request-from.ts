import { request } from 'node:http';

/** What {@link requestFrom} got back. */
export interface AnswerFrom {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * One HTTP request whose socket is bound to `localAddress`, so the server sees that client
 * address. Linux routes all of 127.0.0.0/8 on `lo`: `127.0.0.2`, `127.0.0.3`, … are distinct
 * clients of a server on 127.0.0.1 without touching any other interface (fetch cannot choose its
 * source address). `url` must be of the same IP version as `localAddress` (127.0.0.1 or [::1]).
 * Redirects are not followed.
 */
export function requestFrom(
  localAddress: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array } = {},
): Promise<AnswerFrom> {
  const target = new URL(url);
  if (target.protocol !== 'http:') throw new Error(`requestFrom speaks plain http, not ${url}`);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname.replace(/^\[|\]$/g, ''),
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: init.method ?? 'GET',
        headers: init.headers ?? {},
        localAddress,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
          resolve({ status: res.statusCode!, headers, body: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
