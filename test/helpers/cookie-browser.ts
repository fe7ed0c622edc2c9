/**
 * A browser without a browser: fetch with manual redirects and a cookie jar that honours
 * host, path, Max-Age and deletion. Enough to drive the real sign-in against the embedded
 * IdP in ~50 ms.
 */
export class CookieBrowser {
  private readonly jar = new Map<string, { host: string; path: string; name: string; value: string }>();
  /** Every response seen, for assertions that no token reached the browser. */
  readonly seen: Array<{ url: string; status: number; headers: Headers; body: string }> = [];

  /**
   * `userAgent` is sent on every request that does not set its own; `forwardedFor` as
   * `X-Forwarded-For` (a client behind a trusted proxy).
   */
  constructor(private readonly options: { userAgent?: string; forwardedFor?: string } = {}) {}

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url);
    const headers = new Headers(init.headers);
    if (this.options.userAgent && !headers.has('user-agent')) headers.set('user-agent', this.options.userAgent);
    if (this.options.forwardedFor && !headers.has('x-forwarded-for'))
      headers.set('x-forwarded-for', this.options.forwardedFor);
    const cookie = this.cookieHeader(target);
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) this.store(target, line);
    return response;
  }

  /** Follows redirects like a browser (POST → GET on 302/303), returning the last response and its body. */
  async navigate(
    url: string,
    init: RequestInit = {},
    maxHops = 15,
  ): Promise<{ response: Response; url: string; body: string }> {
    let current = url;
    let currentInit = init;
    for (let hop = 0; hop < maxHops; hop++) {
      const response = await this.request(current, currentInit);
      const body = await response.text();
      this.seen.push({ url: current, status: response.status, headers: response.headers, body });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        current = new URL(location, current).href;
        currentInit = {};
        continue;
      }
      return { response, url: current, body };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** Submits the first form on a page, with `fields` filled in. */
  async submitForm(
    pageUrl: string,
    html: string,
    fields: Record<string, string>,
  ): Promise<{ response: Response; url: string; body: string }> {
    const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
    if (!form) throw new Error(`no form on ${pageUrl}`);
    // What a browser sends for the form as it stands: inputs, checked boxes and radios only,
    // and each select's selected option (or its first).
    const data = new URLSearchParams();
    for (const [tag] of form[2]!.matchAll(/<input\b[^>]*>/gi)) {
      const name = /\bname="([^"]*)"/.exec(tag)?.[1];
      const type = /\btype="([^"]*)"/i.exec(tag)?.[1]?.toLowerCase();
      if ((type === 'checkbox' || type === 'radio') && !/\bchecked\b/i.test(tag)) continue;
      const value = /\bvalue="([^"]*)"/.exec(tag)?.[1] ?? (type === 'checkbox' || type === 'radio' ? 'on' : '');
      if (name) data.append(name, decodeEntities(value));
    }
    for (const [, attributes, options] of form[2]!.matchAll(/<select\b([^>]*)>([\s\S]*?)<\/select>/gi)) {
      const name = /\bname="([^"]*)"/.exec(attributes!)?.[1];
      const all = [...options!.matchAll(/<option\b([^>]*)>/gi)].map((o) => o[1]!);
      const chosen = all.find((o) => /\bselected\b/i.test(o)) ?? all[0];
      if (name && chosen !== undefined) data.append(name, decodeEntities(/\bvalue="([^"]*)"/.exec(chosen)?.[1] ?? ''));
    }
    for (const [k, v] of Object.entries(fields)) data.set(k, v);
    return this.navigate(new URL(decodeEntities(form[1]!), pageUrl).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: data.toString(),
    });
  }

  cookie(host: string, name: string): string | undefined {
    for (const c of this.jar.values()) if (c.host === host && c.name === name) return c.value;
    return undefined;
  }

  cookieHeader(url: URL): string {
    return [...this.jar.values()]
      .filter(
        (c) =>
          c.host === url.hostname &&
          (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)),
      )
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  forget(host: string, name: string): void {
    for (const [key, c] of this.jar) if (c.host === host && c.name === name) this.jar.delete(key);
  }

  private store(url: URL, line: string): void {
    const [pair, ...attributes] = line.split(';');
    const eq = pair!.indexOf('=');
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    let path = '/';
    let expired = false;
    for (const attribute of attributes) {
      const [k, v = ''] = attribute.split('=');
      const key = k!.trim().toLowerCase();
      if (key === 'path') path = v.trim();
      if (key === 'max-age' && Number(v) <= 0) expired = true;
      if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
    }
    const id = `${url.hostname} ${path} ${name}`;
    if (expired) this.jar.delete(id);
    else this.jar.set(id, { host: url.hostname, path, name, value });
  }
}

function decodeEntities(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)))
    .replace(/&amp;/g, '&')
    .replace(/&quot;/g, '"');
}
