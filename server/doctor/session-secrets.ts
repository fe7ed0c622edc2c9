import { pathToFileURL } from 'node:url';
import { systemClock } from '../clock.ts';
import { loadConfig, readEnvironment } from '../config.ts';
import { GrantStore } from '../grants/grant-store.ts';
import { type ResealReport, resealRecords } from './reseal-records.ts';
import { createLogger } from '../log.ts';
import { sessionRecordTtlMs } from '../session/session-middleware.ts';
import { RedisStore } from '../store/redis-store.ts';

const usage = `usage: npm run secrets [-- --reseal] [-- --json]

Counts the records in Redis that depend on each GATEHOUSE_SESSION_SECRET (the same
configuration npm start reads): sealed with the newest, with an older one (they stop working
when it is removed), or with none still configured.
  --reseal  seal every record that needs an older secret again with the newest
  --json    print the counts as JSON
Exit status: 0; 1 when records still need an older secret (after --reseal: could not be re-sealed).
`;

/** `npm run secrets`: counts (and with `--reseal` re-seals) records sealed under older session secrets. */
export async function main(
  argv: string[],
  env: Record<string, string | undefined> = readEnvironment(),
  out: (text: string) => void = (t) => process.stdout.write(t),
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(usage);
    return 0;
  }
  const unknown = argv.find((arg) => arg !== '--reseal' && arg !== '--json');
  if (unknown !== undefined) {
    out(`unknown argument ${unknown}\n${usage}`);
    return 2;
  }
  const config = loadConfig(env);
  if (config.store !== 'redis') {
    out('GATEHOUSE_STORE=memory: records live in the running process only, and are re-sealed there when next read.\n');
    return 0;
  }
  const logger = createLogger('silent');
  const store = await RedisStore.connect({ topology: config.redis!, logger });
  try {
    const report = await resealRecords(
      {
        store,
        keysWithPrefix: (prefix) => store.keysWithPrefix(prefix),
        grants: new GrantStore(store, config.session.secrets, systemClock),
        secrets: config.session.secrets,
        clock: systemClock,
        sessionTtlMs: (data, now) => sessionRecordTtlMs(data, config.session, now),
      },
      { write: argv.includes('--reseal') },
    );
    out(
      argv.includes('--json')
        ? `${JSON.stringify(report, null, 2)}\n`
        : summarize(report, config.session.secrets.length),
    );
    const left =
      report.grants.older - report.grants.resealed + report.externalSessions.older - report.externalSessions.resealed;
    return left > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}

function summarize(report: ResealReport, secretCount: number): string {
  const line = (name: string, count: ResealReport['grants']): string =>
    `${name}: ${count.current} sealed with the newest secret, ${count.older} with an older one${
      count.resealed ? ` (${count.resealed} re-sealed now)` : ''
    }, ${count.unknown} with none configured\n`;
  const left =
    report.grants.older - report.grants.resealed + report.externalSessions.older - report.externalSessions.resealed;
  return [
    `GATEHOUSE_SESSION_SECRET lists ${secretCount} secret${secretCount === 1 ? '' : 's'}\n`,
    line('grants (sessions, API tokens, SOAP handles)', report.grants),
    line('SOAP external sessions', report.externalSessions),
    left > 0
      ? `${left} record(s) still need an older secret: run npm run secrets -- --reseal, or wait until they are next used\n`
      : 'no record needs an older secret; once every browser has made a request (GATEHOUSE_SESSION_IDLE), the older secrets can be removed\n',
  ].join('');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`secrets could not run: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
