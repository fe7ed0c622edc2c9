import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually } from './helpers/eventually.ts';
import { sparePort } from './helpers/ports.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Whether `port` can be bound on every interface, as Gatehouse binds it: nothing holds it any more. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, () => probe.close(() => resolve(true)));
  });
}

// `docker stop`, systemd and `kill <pid>` signal only the process they started: npm. Gatehouse
// must stop with it, gracefully, and free both its ports (its own and the embedded IdP's).
test('SIGTERM to the PID of `npm start` stops Gatehouse and its embedded IdP: both ports are free within 10 s', {
  timeout: 120_000,
}, async () => {
  await stopNpmStart((npm) => process.kill(npm, 'SIGTERM'), 'SIGTERM'); // npm only, not its process group
});

/** Runs `npm start` on spare ports, waits until it is ready, signals it with `stop`, and checks it stops cleanly. */
async function stopNpmStart(stop: (npmPid: number) => void, signal: string): Promise<string> {
  // Not 3000/3001 (a developer's npm start) nor port 0: the test must know the ports to see them freed.
  const port = sparePort();
  let idpPort = sparePort();
  while (idpPort === port) idpPort = sparePort();
  const npm = spawn('npm', ['start', '--silent'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      npm_config_update_notifier: 'false',
      GATEHOUSE_PORT: String(port),
      GATEHOUSE_DEV_IDP_PORT: String(idpPort),
      GATEHOUSE_LOG_LEVEL: 'info', // the "shutting down" line
    },
    // Its own process group, so a failing test can still stop whatever npm left behind.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout.on('data', (chunk) => (output += chunk));
  npm.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
  try {
    await eventually(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
      `Gatehouse ready on port ${port} (output: ${output})`,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    assert.equal(await isFree(idpPort), false, 'the embedded IdP holds its port');

    stop(npm.pid!);
    await eventually(async () => (await isFree(port)) && (await isFree(idpPort)), 'both ports free', {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    assert.equal(await exited, 0, `npm exits 0 after a graceful stop (output: ${output})`);
    assert.match(output, new RegExp(`"msg":"shutting down","signal":"${signal}"`));
    // Node 20 is supported: oidc-provider's "Unsupported runtime" warning is left out where the embedded IdP starts.
    assert.doesNotMatch(output, /Unsupported runtime/);
    return output;
  } finally {
    try {
      process.kill(-npm.pid!, 'SIGKILL'); // whatever is left of the group, should the test have failed
    } catch {
      // already gone: the case the test expects
    }
  }
}
