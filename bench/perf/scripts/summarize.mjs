#!/usr/bin/env node
// Summarise a compare.sh results directory: one row per target with the median
// over rounds of requests/s, p50 and p99 latency, ratio to the bare baseline,
// and the share of wrk-counted requests the upstream saw with a Bearer token.
//   node scripts/summarize.mjs RESULTS_DIR [BASELINE_NAME]
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const baseline = process.argv[3] || 'bare';
const runs = fs
  .readFileSync(path.join(dir, 'runs.tsv'), 'utf8')
  .trim()
  .split('\n')
  .filter(Boolean)
  .map((l) => {
    const [target, round, file, auth, before, after] = l.split('\t');
    return { target, round: +round, file, auth: auth === '1', before, after };
  });

const toMs = (v) => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (!m) return NaN;
  return +m[1] * { us: 0.001, ms: 1, s: 1000, m: 60000 }[m[2]];
};
function parseWrk(text) {
  const num = (re) => {
    const m = re.exec(text);
    return m ? m : null;
  };
  const rps = +(num(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN);
  const total = +(num(/(\d+) requests in/)?.[1] ?? NaN);
  const p50 = toMs(num(/^\s+50%\s+(\S+)/m)?.[1] ?? '');
  const p99 = toMs(num(/^\s+99%\s+(\S+)/m)?.[1] ?? '');
  const non2xx = +(num(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0);
  const se = num(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const sockErr = se ? se.slice(1).reduce((a, b) => a + +b, 0) : 0;
  return { rps, total, p50, p99, non2xx, sockErr };
}
const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const order = [];
const by = new Map();
for (const r of runs) {
  const w = parseWrk(fs.readFileSync(path.join(dir, r.file), 'utf8'));
  let fwd = NaN;
  let fwdBearer = NaN;
  try {
    const b = JSON.parse(r.before);
    const a = JSON.parse(r.after);
    fwd = a.echo + a.big - (b.echo + b.big);
    fwdBearer = a.echoBearer + a.bigBearer - (b.echoBearer + b.bigBearer);
  } catch {
    /* stats unavailable */
  }
  if (!by.has(r.target)) {
    by.set(r.target, []);
    order.push(r.target);
  }
  by.get(r.target).push({ ...w, fwd, fwdBearer, auth: r.auth });
}

const rows = order.map((t) => {
  const rs = by.get(t);
  const sumTotal = rs.reduce((a, r) => a + r.total, 0);
  const sumOk = rs.reduce((a, r) => a + (r.auth ? r.fwdBearer : r.fwd), 0);
  return {
    target: t,
    n: rs.length,
    rps: median(rs.map((r) => r.rps)),
    rpsMin: Math.min(...rs.map((r) => r.rps)),
    rpsMax: Math.max(...rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    errors: rs.reduce((a, r) => a + r.non2xx + r.sockErr, 0),
    // requests the upstream saw (with Bearer, for authenticated targets) / requests wrk counted
    upstreamOk: sumTotal ? Math.min(sumOk / sumTotal, 9.99) : NaN,
    auth: rs[0].auth,
  };
});
const base = rows.find((r) => r.target === baseline);
const fmt = (v, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
const header = [
  'target',
  'runs',
  'req/s (median)',
  'min..max',
  'p50 ms',
  'p99 ms',
  `x ${baseline}`,
  'errors',
  'upstream-ok',
];
const table = rows.map((r) => [
  r.target,
  String(r.n),
  fmt(r.rps),
  `${fmt(r.rpsMin)}..${fmt(r.rpsMax)}`,
  fmt(r.p50, 2),
  fmt(r.p99, 2),
  base ? fmt(r.rps / base.rps, 2) : 'n/a',
  String(r.errors),
  `${fmt(r.upstreamOk * 100, 1)}%${r.auth ? ' bearer' : ''}`,
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of table) console.log(line(row));
fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify({ baseline, rows }, null, 2));
