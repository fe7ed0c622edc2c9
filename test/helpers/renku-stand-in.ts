import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DemoApis } from '../../server/dev/demo-apis.ts';
import type { RenkuProjectSeed } from '../../server/dev/demo-renku-api.ts';
import { startGatehouseAfterDemoApis } from './demo-first.ts';
import { writeApisFile } from './apis-file.ts';
import type { TestGatehouse } from './harness.ts';

/** How a page of the project list fails: the connection cut (Gatehouse's 502), or Renku's answer to an anonymous caller. */
export type PageFailure = 'unreachable' | 'anonymous';

/**
 * A front for the demo Renku data service (which verifies the JWT Gatehouse sends, and treats
 * a caller without a valid `renku` token as anonymous, as Renku does) that sees what the
 * connector page asks: it counts the permission calls and the pages of `GET /projects`, holds
 * every page after the first until {@link releasePages}, and fails a page when told to.
 */
export class RenkuStandIn {
  /** The project ids whose permissions were asked, in order. */
  readonly permissionCalls: string[] = [];
  /** The pages of the project list asked for, in order. */
  readonly pageCalls: number[] = [];
  url = '';
  private holding = false;
  private readonly held: Array<() => void> = [];
  private readonly failures = new Map<number, PageFailure>();
  private server: Server | undefined;

  constructor(private readonly target: string) {}

  /** Holds every page after the first until {@link releasePages}. */
  holdPagesAfterFirst(): void {
    this.holding = true;
  }

  /** How many page requests are being held. */
  get heldPages(): number {
    return this.held.length;
  }

  /** Answers the held pages, and every later one at once. */
  releasePages(): void {
    this.holding = false;
    for (const release of this.held.splice(0)) release();
  }

  /** The next request for `page` fails this way (once). */
  failPage(page: number, how: PageFailure): void {
    this.failures.set(page, how);
  }

  async start(): Promise<this> {
    const target = new URL(this.target);
    this.server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const permissions = /^\/api\/data\/projects\/([^/]+)\/permissions$/.exec(url.pathname);
      if (permissions) this.permissionCalls.push(decodeURIComponent(permissions[1]!));
      const headers = { ...req.headers };
      if (url.pathname === '/api/data/projects') {
        const page = Number(url.searchParams.get('page') ?? 1);
        this.pageCalls.push(page);
        const failure = this.failures.get(page);
        this.failures.delete(page);
        if (page > 1 && this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
        if (failure === 'unreachable') {
          req.socket.destroy();
          return;
        }
        // Renku's data service treats a request without a valid token as anonymous.
        if (failure === 'anonymous') delete headers.authorization;
      }
      const forwarded = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarded.on('error', () => res.destroy());
      req.pipe(forwarded);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.releasePages();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The label the connector gives the one project whose name has "target" in it (on page 3). */
export const targetProject = 'hydro-lab/flood-target-maps';
/** alice's project she may only read (on page 2). */
export const readOnlyProject = 'bob/glacier-archive';

/**
 * alice's 240 projects, three pages of Renku's 100: `alice/climate-models` first, stations
 * `alpine-lab/station-001`…, bob's project she may only read on page 2, and on page 3 the
 * one whose name has "target" in it.
 */
export function standInProjects(count = 240): RenkuProjectSeed[] {
  const projects: RenkuProjectSeed[] = Array.from({ length: count }, (_, i) => {
    const number = String(i).padStart(3, '0');
    return {
      namespace: 'alpine-lab',
      slug: `station-${number}`,
      name: `Station ${number}`,
      members: { alice: 'editor' },
    };
  });
  projects[0] = { namespace: 'alice', slug: 'climate-models', name: 'Climate models', members: { alice: 'owner' } };
  if (count > 150)
    projects[150] = {
      namespace: 'bob',
      slug: 'glacier-archive',
      name: 'Glacier archive',
      members: { bob: 'owner', alice: 'viewer' },
      visibility: 'public',
    };
  if (count > 230)
    projects[230] = {
      namespace: 'hydro-lab',
      slug: 'flood-target-maps',
      name: 'Flood target maps',
      members: { alice: 'editor' },
    };
  return projects;
}

/**
 * Gatehouse with the demo Dataverse and, as its `renku` API (audience `renku`, in a real
 * GATEHOUSE_APIS file), the demo Renku with `projects` behind a {@link RenkuStandIn}.
 */
export async function startGatehouseWithRenkuStandIn(
  projects: RenkuProjectSeed[] = standInProjects(),
  options: { clock?: () => number } = {},
): Promise<{ gatehouse: TestGatehouse; demo: DemoApis; renku: RenkuStandIn; stop(): Promise<void> }> {
  let renku: RenkuStandIn | undefined;
  const { demo, gatehouse } = await startGatehouseAfterDemoApis(
    async (demo) => {
      await renku?.stop(); // from an attempt whose IdP port was taken
      renku = await new RenkuStandIn(demo.renkuWebUrl).start();
      return {
        GATEHOUSE_APIS: writeApisFile([
          { name: 'dataverse', url: demo.dataverseUrl, token: 'user', audience: 'dataverse' },
          { name: 'renku', url: `${renku.url}/api/data`, token: 'user', audience: 'renku' },
        ]),
      };
    },
    {
      demo: { renkuProjects: projects, ...(options.clock ? { clock: options.clock } : { clock: Date.now }) },
      ...(options.clock ? { gatehouse: { clock: options.clock } } : {}),
    },
  );
  const standIn = renku!;
  return {
    gatehouse,
    demo,
    renku: standIn,
    async stop() {
      await gatehouse.stop();
      await standIn.stop();
      await demo.close();
    },
  };
}
