import { devUsers } from './dev/dev-idp.ts';
import { describeTrustProxy } from './http/trust-proxy.ts';
import type { Gatehouse } from './start.ts';

/** What the memory store costs at a restart, as the banner says it (doctor and /tokens say the same). */
export const memoryStoreNote =
  'store: memory — a restart ends every session and every API token (set GATEHOUSE_STORE=redis to keep them)';

/** The lines `npm start` prints once listening: where, which IdP, demo users, APIs, and what a restart loses. */
export function banner(gatehouse: Pick<Gatehouse, 'config' | 'devIdp' | 'upstreams'>): string {
  const lines = [
    '',
    `  Gatehouse is listening on ${gatehouse.config.publicUrl}`,
    `  identity provider: ${gatehouse.config.oidc.issuer}${gatehouse.devIdp ? ' (embedded, development only)' : ''}`,
    `  trusted proxies (GATEHOUSE_TRUST_PROXY): ${describeTrustProxy(gatehouse.config.trustProxy)}`,
  ];
  if (gatehouse.devIdp) {
    lines.push('  demo users:');
    for (const user of devUsers) lines.push(`    ${user.username} / ${user.password}`);
  }
  if (gatehouse.upstreams.length) lines.push('  APIs:');
  for (const upstream of gatehouse.upstreams) lines.push(`    /api/${upstream.name}/ → ${upstream.url}`);
  if (gatehouse.config.store === 'memory') lines.push(`  ${memoryStoreNote}`);
  return `${lines.join('\n')}\n\n`;
}
