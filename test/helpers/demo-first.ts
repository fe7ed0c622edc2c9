import { type DemoApis, startDemoApis } from '../../server/dev/demo-apis.ts';
import type { StartOptions } from '../../server/start.ts';
import { startGatehouse, type TestGatehouse } from './harness.ts';
import { bindSparePort } from './ports.ts';

/**
 * Starts the demo APIs first, trusting the embedded IdP Gatehouse is about to start, then that
 * Gatehouse with `env(demo)` (e.g. a `GATEHOUSE_APIS` file naming them). The demo APIs must know
 * the IdP's issuer before it runs, so its port is chosen up front: a spare one, tried again on
 * another when taken.
 */
export async function startGatehouseAfterDemoApis(
  env: (demo: DemoApis) => Record<string, string> | Promise<Record<string, string>>,
  options: {
    demo?: Omit<Parameters<typeof startDemoApis>[0], 'issuer'>;
    gatehouse?: Omit<StartOptions, 'env' | 'logger'>;
  } = {},
): Promise<{ demo: DemoApis; gatehouse: TestGatehouse }> {
  const { bound } = await bindSparePort(async (idpPort) => {
    const demo = await startDemoApis({ ...options.demo!, issuer: `http://127.0.0.1:${idpPort}` });
    try {
      return {
        demo,
        gatehouse: await startGatehouse(
          { ...(await env(demo)), GATEHOUSE_DEV_IDP_PORT: String(idpPort) },
          options.gatehouse,
        ),
      };
    } catch (error) {
      await demo.close();
      throw error;
    }
  });
  return bound;
}
