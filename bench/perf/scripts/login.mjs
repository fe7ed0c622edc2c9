#!/usr/bin/env node
// Headless OIDC login: plain HTTP requests + a tiny cookie jar, no browser.
// (node:http rather than global fetch: undici forces "Sec-Fetch-Mode: cors",
// which mod_auth_openidc rightly treats as a non-navigation XHR and answers 401.)
// Starts at a URL of the relying party (peer/BFF), follows redirects by hand,
// fills the IdP's username/password form (and auto-submits form_post pages),
// then prints the relying party's cookies as one Cookie header value on stdout.
//
//   node scripts/login.mjs --start http://127.0.0.1:3320/login \
//        [--check http://127.0.0.1:3320/api/echo] [--user alice --password wonderland]
//        [--repeat-for 10]   # login-throughput mode: sequential full logins for N s
//        [--verbose]
//
// Exit code 0 = logged in (and --check answered 2xx with bearer:true when JSON).
import { parseArgs } from 'node:util';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';

// ---- cookie jar (keyed by origin: scheme://host:port, i.e. stricter than browsers) ----
class Jar {
  constructor() {
    this.byOrigin = new Map();
  }
  store(url, setCookies) {
    const u = new URL(url);
    let m = this.byOrigin.get(u.origin);
    if (!m) this.byOrigin.set(u.origin, (m = new Map()));
    for (const sc of setCookies) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = u.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const a of attrs) {
        const [k, ...rest] = a.trim().split('=');
        const v = rest.join('=');
        const key = k.toLowerCase();
        if (key === 'path' && v.startsWith('/')) path = v;
        else if (key === 'max-age') expired = Number(v) <= 0;
        else if (key === 'expires' && !attrs.some((x) => /^\s*max-age/i.test(x))) expired = Date.parse(v) <= Date.now();
      }
      const id = `${name}\u0000${path}`;
      if (expired) m.delete(id);
      else m.set(id, { name, value, path });
    }
  }
  header(url) {
    const u = new URL(url);
    const m = this.byOrigin.get(u.origin);
    if (!m) return '';
    const out = [];
    for (const c of m.values()) {
      const p = c.path.endsWith('/') ? c.path : `${c.path}/`;
      if (u.pathname === c.path || u.pathname.startsWith(p) || c.path === '/') out.push(c);
    }
    out.sort((a, b) => b.path.length - a.path.length);
    return out.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

// ---- minimal HTML form extraction ----
const attr = (tag, name) => {
  const m = new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(tag);
  return m
    ? (m[2] ?? m[3] ?? m[4])
        .replace(/&amp;/g, '&')
        .replace(/&#(\d+);/g, (_, d) => String.fromCharCode(d))
        .replace(/&quot;/g, '"')
    : undefined;
};
function findForm(html) {
  const fm = /<form\b[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!fm) return null;
  const tag = /<form\b[^>]*>/i.exec(fm[0])[0];
  const inputs = [...fm[1].matchAll(/<input\b[^>]*>/gi)]
    .map((m) => ({
      name: attr(m[0], 'name'),
      value: attr(m[0], 'value') ?? '',
      type: (attr(m[0], 'type') || 'text').toLowerCase(),
    }))
    .filter((i) => i.name);
  return { action: attr(tag, 'action'), method: (attr(tag, 'method') || 'get').toUpperCase(), inputs };
}

const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
// Minimal request helper: { status, headers, setCookies[], text }
function request(url, { method = 'GET', headers = {}, body } = {}) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method,
        headers: body ? { ...headers, 'content-length': Buffer.byteLength(body) } : headers,
        agent: agents[u.protocol],
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            setCookies: [].concat(res.headers['set-cookie'] || []),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout ${method} ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

const BROWSER_HEADERS = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'user-agent': 'perf-login/1.0 (node)',
};

export async function login({ start, check, user = 'alice', password = 'wonderland', verbose = false, maxSteps = 25 }) {
  const jar = new Jar();
  const log = verbose ? (...a) => console.error(...a) : () => {};
  let url = start;
  let method = 'GET';
  let body;
  let submittedLogin = false;
  let res;
  for (let step = 0; step < maxSteps; step++) {
    const headers = { ...BROWSER_HEADERS };
    const cookie = jar.header(url);
    if (cookie) headers.cookie = cookie;
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    res = await request(url, { method, headers, body });
    jar.store(url, res.setCookies);
    log(`${method} ${url} -> ${res.status}`);
    if (res.status >= 300 && res.status < 400 && res.headers.location) {
      const next = new URL(res.headers.location, url).href;
      if (res.status === 307 || res.status === 308) {
        url = next;
        continue;
      }
      url = next;
      method = 'GET';
      body = undefined;
      continue;
    }
    const type = res.headers['content-type'] || '';
    const { text } = res;
    // back on the relying party after the IdP: signed in; its own forms (e.g. Sign out) are not ours to submit
    const onRp = new URL(url).origin === new URL(start).origin;
    if (res.status < 400 && type.includes('html') && !(onRp && submittedLogin)) {
      const form = findForm(text);
      if (form) {
        const params = new URLSearchParams();
        const hasPassword = form.inputs.some((i) => i.type === 'password');
        if (hasPassword && submittedLogin) throw new Error(`login form shown again after submit at ${url}`);
        for (const i of form.inputs) {
          if (i.type === 'password') params.append(i.name, password);
          else if (hasPassword && (i.type === 'text' || i.type === 'email') && !i.value) params.append(i.name, user);
          else if (['hidden', 'text', 'email'].includes(i.type)) params.append(i.name, i.value);
        }
        if (hasPassword) submittedLogin = true;
        const action = new URL(form.action || url, url).href;
        if (form.method === 'POST') {
          url = action;
          method = 'POST';
          body = params.toString();
        } else {
          const u = new URL(action);
          for (const [k, v] of params) u.searchParams.append(k, v);
          url = u.href;
          method = 'GET';
          body = undefined;
        }
        continue;
      }
    }
    if (res.status >= 400) throw new Error(`login failed: ${method} ${url} -> ${res.status}: ${text.slice(0, 300)}`);
    break;
  }
  if (!submittedLogin) log('note: no login form was submitted (already logged in at IdP?)');
  const target = check || start;
  const cookie = jar.header(target);
  if (!cookie) throw new Error(`no cookies for ${new URL(target).origin} after login`);
  if (check) {
    const r = await request(check, { headers: { cookie, accept: 'application/json', 'x-csrf': '1' } });
    const t = r.text;
    if (r.status < 200 || r.status >= 300) throw new Error(`check ${check} -> ${r.status} ${t.slice(0, 200)}`);
    if ((r.headers['content-type'] || '').includes('json')) {
      const j = JSON.parse(t);
      if (j.bearer === false) throw new Error(`check ${check}: upstream saw no Bearer token: ${t}`);
    }
    log(`check ${check} -> ${r.status} ${t.slice(0, 160)}`);
  }
  return cookie;
}

async function main() {
  const { values } = parseArgs({
    options: {
      start: { type: 'string' },
      check: { type: 'string' },
      user: { type: 'string', default: process.env.PERF_USER || 'alice' },
      password: { type: 'string', default: process.env.PERF_PASSWORD || 'wonderland' },
      'repeat-for': { type: 'string' },
      verbose: { type: 'boolean', short: 'v', default: false },
    },
  });
  if (!values.start) {
    console.error('usage: login.mjs --start URL [--check URL] [--user U --password P] [--repeat-for SECONDS] [-v]');
    process.exit(2);
  }
  const opts = {
    start: values.start,
    check: values.check,
    user: values.user,
    password: values.password,
    verbose: values.verbose,
  };
  if (values['repeat-for']) {
    const secs = Number(values['repeat-for']);
    const lat = [];
    let errors = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < secs * 1000) {
      const s = performance.now();
      try {
        await login({ ...opts, check: undefined });
        lat.push(performance.now() - s);
      } catch (e) {
        errors++;
        if (errors < 4) console.error(e.message);
      }
    }
    const el = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1) : 'n/a');
    console.log(
      JSON.stringify({
        logins: lat.length,
        errors,
        seconds: +el.toFixed(2),
        loginsPerSec: +(lat.length / el).toFixed(1),
        p50ms: +q(0.5),
        p99ms: +q(0.99),
      }),
    );
    return;
  }
  console.log(await login(opts));
}

if (import.meta.url === `file://${process.argv[1]}`)
  main().catch((e) => {
    console.error(`login error: ${e.message}`);
    process.exit(1);
  });
