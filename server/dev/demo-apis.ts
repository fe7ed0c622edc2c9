import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock.ts';
import type { Upstream } from '../upstream-registry.ts';
import { dataverseApi } from './demo-dataverse-api.ts';
import { demoEchoSocket, demoEchoSocketPath } from './demo-echo-socket.ts';
import { type RenkuProjectSeed, renkuApi, renkuApiPath } from './demo-renku-api.ts';

/** The running demo upstream APIs. */
export interface DemoApis {
  /** Base URL of the Renku-like data service (`<origin>/api/data`, as a real Renku's `renku` upstream). */
  renkuUrl: string;
  /** Origin of the Renku-like deployment, where its project pages are (`/p/<namespace>/<slug>`). */
  renkuWebUrl: string;
  /** Base URL of the Dataverse-like API. */
  dataverseUrl: string;
  close(): Promise<void>;
}

/**
 * Starts the Renku-like and Dataverse-like demo APIs on free ports of 127.0.0.1 (development
 * only, with the embedded IdP). Both verify the JWT access tokens `issuer` signs.
 * `dataverseAccounts` lists the users the demo Dataverse has an account for (default: anyone);
 * the others get its 403 for a bearer token without a linked account. `renkuProjects` replaces
 * the demo Renku's projects (tests that need many).
 */
export async function startDemoApis(options: {
  issuer: string;
  clock: Clock;
  dataverseAccounts?: readonly string[];
  renkuProjects?: readonly RenkuProjectSeed[];
}): Promise<DemoApis> {
  const { renkuProjects, ...common } = options;
  const renkuApp = renkuApi({ ...common, ...(renkuProjects ? { projects: renkuProjects } : {}) });
  const servers = await Promise.all([listen(renkuApp), listen(dataverseApi(common))]);
  const [renku, dataverse] = servers.map(({ url }) => url) as [string, string];
  const echoSocket = demoEchoSocket({
    issuer: options.issuer,
    audience: 'renku',
    path: `${renkuApiPath}${demoEchoSocketPath}`,
  });
  servers[0]!.server.on('upgrade', echoSocket.upgrade);
  return {
    renkuUrl: `${renku}${renkuApiPath}`,
    renkuWebUrl: renku,
    dataverseUrl: dataverse,
    close: async () => {
      echoSocket.close();
      await Promise.all(
        servers.map(
          ({ server }) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => resolve());
            }),
        ),
      );
    },
  };
}

/** The registry entries for the demo APIs, as Gatehouse uses them when `GATEHOUSE_APIS` is not set. */
export function demoUpstreams(apis: DemoApis): Upstream[] {
  return [
    // The examples answer 200 for any signed-in user: the snippets on the Token created page call them.
    {
      name: 'renku',
      url: apis.renkuUrl,
      token: 'user',
      audience: 'renku',
      timeoutMs: 10_000,
      headers: {},
      example: '/user',
      // Its /live endpoint is a WebSocket (demo-echo-socket.ts), shown on the home page.
      websocket: { readOnlyTokens: false },
    },
    {
      name: 'dataverse',
      url: apis.dataverseUrl,
      token: 'user',
      audience: 'dataverse',
      timeoutMs: 10_000,
      headers: {},
      example: '/api/info/version',
    },
  ];
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
