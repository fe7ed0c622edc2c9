import type { DemoApis } from '../../server/dev/demo-apis.ts';
import { writeApisFile } from './apis-file.ts';
import { type ConnectorModules, ConnectorPageContext, loadConnectorModules } from './connector-page-context.ts';
import { CookieBrowser, signIn, startGatehouse, TestClock, type TestGatehouse } from './harness.ts';
import { startGatehouseAfterDemoApis } from './demo-first.ts';

/** A signed-in connector page (its browser modules in Node) against a real Gatehouse and the demo APIs. */
export interface ConnectorFixture {
  gatehouse: TestGatehouse;
  /** Gatehouse's and the demo APIs' clock. */
  clock: TestClock;
  demo: DemoApis;
  browser: CookieBrowser;
  page: ConnectorPageContext;
  modules: ConnectorModules;
  stop(): Promise<void>;
}

/**
 * Starts Gatehouse with a TestClock, signs `username` in through the real flow and loads the
 * connector's browser modules. Without `upstreams` Gatehouse runs exactly as `npm start` does
 * (the demo APIs it registers itself); with it, the demo APIs are started first for the
 * embedded IdP's issuer (with `dataverseAccounts`, if given) and `upstreams(demo)` is written
 * to a real `GATEHOUSE_APIS` file.
 */
export async function startConnectorFixture(
  options: {
    upstreams?: (demo: DemoApis) => unknown[] | Promise<unknown[]>;
    username?: string;
    dataverseAccounts?: readonly string[];
  } = {},
): Promise<ConnectorFixture> {
  const clock = new TestClock();
  let gatehouse: TestGatehouse;
  let ownDemo: DemoApis | undefined;
  if (options.upstreams) {
    const upstreams = options.upstreams;
    ({ demo: ownDemo, gatehouse } = await startGatehouseAfterDemoApis(
      async (demo) => ({ GATEHOUSE_APIS: writeApisFile(await upstreams(demo)) }),
      {
        demo: {
          clock: clock.read,
          ...(options.dataverseAccounts ? { dataverseAccounts: options.dataverseAccounts } : {}),
        },
        gatehouse: { clock: clock.read },
      },
    ));
  } else {
    gatehouse = await startGatehouse({}, { clock: clock.read });
  }
  const browser = new CookieBrowser();
  await signIn(gatehouse, browser, options.username ?? 'alice');
  const page = new ConnectorPageContext(gatehouse.url, browser);
  return {
    gatehouse,
    clock,
    demo: ownDemo ?? gatehouse.gh.demoApis!,
    browser,
    page,
    modules: await loadConnectorModules(),
    async stop() {
      page.restore();
      await gatehouse.stop();
      await ownDemo?.close();
    },
  };
}
