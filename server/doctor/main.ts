import { pathToFileURL } from 'node:url';
import { readEnvironment } from '../config.ts';
import { renderChecklist } from './render-checklist.ts';
import { runDoctor } from './run-doctor.ts';

const usage = `usage: npm run doctor [-- --json]

Checks the deployment the GATEHOUSE_* configuration describes (the same one npm start reads)
and prints a checklist: ✓ fine, ⚠ works but worth fixing, ✗ broken. Each ⚠ and ✗ names its fix.
  --json   print the same result as JSON ({"status", "checks": [{id, title, status, detail, fix, ms}]})
Exit status: 1 when any line is ✗, else 0 (2 for a bad argument).
`;

/** `npm run doctor`: runs the checks, prints them (text or `--json`) and exits 1 on any ✗. */
async function main(argv: string[]): Promise<number> {
  const unknown = argv.filter((arg) => arg !== '--json' && arg !== '--help' && arg !== '-h');
  if (argv.includes('--help') || argv.includes('-h') || unknown.length) {
    (unknown.length ? process.stderr : process.stdout).write(
      `${unknown.length ? `unknown argument ${unknown[0]}\n` : ''}${usage}`,
    );
    return unknown.length ? 2 : 0;
  }
  const report = await runDoctor({ env: readEnvironment() });
  process.stdout.write(argv.includes('--json') ? `${JSON.stringify(report, null, 2)}\n` : renderChecklist(report));
  return report.status === 'fail' ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`doctor could not run: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
