import cluster from 'node:cluster';
import { pathToFileURL } from 'node:url';
import { banner } from './banner.ts';
import { ConfigError, loadConfig, readEnvironment } from './config.ts';
import { renderSummaryLine } from './doctor/render-checklist.ts';
import { runFastChecks } from './doctor/run-fast-checks.ts';
import { createLogger } from './log.ts';
import { type Gatehouse, start } from './start.ts';
import { printsBanner, runWorkers } from './workers.ts';

// The entry point of `npm start`: starts Gatehouse (start.ts wires it) or its workers, prints
// the banner and handles signals. Nothing imports this file.

async function main(): Promise<void> {
  let gatehouse: Gatehouse;
  try {
    const config = cluster.isPrimary ? loadConfig(readEnvironment()) : undefined;
    if (config && config.workers > 1) {
      runWorkers(config.workers, createLogger(config.logLevel));
      return;
    }
    gatehouse = await start();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`Gatehouse could not start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  if (printsBanner()) {
    process.stdout.write(banner(gatehouse));
    // Doctor's fast checks, once listening: a line of ✓/✗ that never delays or refuses the start.
    void runFastChecks(gatehouse.config, gatehouse.deps.idp, gatehouse.deps.clock).then(
      (report) => process.stdout.write(`  ${renderSummaryLine(report)}\n\n`),
      (error: unknown) => gatehouse.deps.logger.warn("doctor's start checks could not run", { error }),
    );
  }
  let shuttingDown = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    // `on`, not `once`: a second signal while stopping (Ctrl-C pressed twice, or a signal to the
    // whole process group that npm also forwards) must not kill the process mid-shutdown; the
    // stop already has its deadline.
    process.on(signal, () => {
      if (shuttingDown) return;
      shuttingDown = true;
      gatehouse.deps.logger.info('shutting down', { signal });
      // Requests in flight get a few seconds to finish.
      setTimeout(() => process.exit(0), 10_000).unref();
      void gatehouse.stop().then(() => process.exit(0));
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
