import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// Test files run in parallel, so a port that was free a moment ago may be someone else's by the
// time it is bound. Servers a test starts listen on port 0 and report the port they got; the
// helpers below cover the few cases where that cannot work.

/** An HTTP server with no request handler yet, listening on a port the kernel chose. */
export async function boundServer(): Promise<{ server: Server; port: number; url: string }> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, () => resolve()); // all interfaces, as Gatehouse listens
  });
  const { port } = server.address() as AddressInfo;
  return { server, port, url: `http://localhost:${port}` };
}

/**
 * A port on 127.0.0.1 where nothing listens, for "unreachable" tests. It is a system port
 * (below 1024, so only root could listen there) that no test binds and that `fetch` does not
 * refuse as a "bad port"; unlike a port that was free a moment ago, no parallel test can take it.
 */
export const closedPort = 2;

/**
 * Binds a server that must come back on the same port after an outage (a redis-server, an IdP
 * that goes down), which port 0 cannot give. `bind(port)` is tried on random ports below the
 * kernel's ephemeral range, which no port-0 bind and no outgoing connection uses, and again on
 * another port when it fails with `EADDRINUSE` (another test file's server picked the same one).
 */
export async function bindSparePort<T>(bind: (port: number) => Promise<T>): Promise<{ port: number; bound: T }> {
  for (let attempt = 0; ; attempt++) {
    const port = sparePort();
    try {
      return { port, bound: await bind(port) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw error;
    }
  }
}

/**
 * A random port below the kernel's ephemeral range, unbound. Only for a server that must be
 * down when the test starts; prefer port 0 or {@link bindSparePort}.
 */
export function sparePort(): number {
  const lowest = 10_000;
  return lowest + Math.floor(Math.random() * (ephemeralStart() - lowest));
}

function ephemeralStart(): number {
  try {
    const [start] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (start && start > 11_000) return start;
  } catch {
    // not Linux: the IANA dynamic range starts at 49152
  }
  return 49_152;
}
