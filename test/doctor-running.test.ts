import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { loadConfig } from '../server/config.ts';
import { checkRunningGatehouse, formatUptime } from '../server/doctor/check-running.ts';
import { renderChecklist } from '../server/doctor/render-checklist.ts';
import { runDoctor } from '../server/doctor/run-doctor.ts';
import { createLogger } from '../server/log.ts';
import { gatehouseVersion } from '../server/version.ts';
import { startGatehouse, TestClock } from './helpers/harness.ts';
import { closedPort } from './helpers/ports.ts';

// Next to a running Gatehouse, doctor must say whether THAT one answers, not only check a copy.

const sessionSecret = 'doctor-test-session-secret-long-enough-0123';

/** The configuration doctor would load for a Gatehouse at `publicUrl`. */
function configFor(publicUrl: string) {
  return loadConfig({ NODE_ENV: 'test', GATEHOUSE_PUBLIC_URL: publicUrl, GATEHOUSE_SESSION_SECRET: sessionSecret });
}

describe('doctor and the Gatehouse running at the public URL', () => {
  test('a ready Gatehouse is ✓ with its version and uptime, on the second line of the checklist', async () => {
    const gatehouse = await startGatehouse();
    try {
      const report = await runDoctor({
        env: { NODE_ENV: 'test', GATEHOUSE_PUBLIC_URL: gatehouse.url, GATEHOUSE_SESSION_SECRET: sessionSecret },
        logger: createLogger('silent'),
      });
      const running = report.checks[1]!;
      assert.equal(running.id, 'running', renderChecklist(report));
      assert.equal(running.status, 'ok');
      assert.match(
        running.detail,
        new RegExp(
          `^Gatehouse ${gatehouseVersion.replace(/\./g, '\\.')} at ${gatehouse.url}, up \\d+ (s|min), is ready`,
        ),
      );
    } finally {
      await gatehouse.stop();
    }
  });

  test('a Gatehouse that is not ready is ✗ with the reasons its /readyz gives', async () => {
    const clock = new TestClock();
    const gatehouse = await startGatehouse({}, { clock: clock.read });
    try {
      assert.equal((await checkRunningGatehouse(configFor(gatehouse.url))).status, 'ok');
      await gatehouse.gh.devIdp!.close();
      clock.advance(31_000); // past the 30 s /readyz keeps its last IdP check
      const check = await checkRunningGatehouse(configFor(gatehouse.url));
      assert.equal(check.status, 'fail');
      assert.match(check.detail, /is not ready \(HTTP 503\): identity provider unreachable/);
      assert.ok(check.fix);
    } finally {
      await gatehouse.stop();
    }
  });

  test('another program at that address is ⚠, naming the address; nothing there is ✓ and says only the configuration is checked', async () => {
    const other = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>hi</h1>'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    try {
      const check = await checkRunningGatehouse(configFor(url));
      assert.equal(check.status, 'warn');
      assert.match(
        check.detail,
        new RegExp(`something other than Gatehouse answers at ${url}/readyz \\(HTTP 200, text/html\\)`),
      );
      assert.match(check.fix!, /GATEHOUSE_PUBLIC_URL/);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
    const none = await checkRunningGatehouse(configFor(`http://127.0.0.1:${closedPort}`));
    assert.equal(none.status, 'ok');
    assert.match(none.detail, /none answers at .*the lines below check the configuration, not a running Gatehouse/);
  });

  test('uptime reads as seconds, minutes, hours or days', () => {
    assert.deepEqual([5, 125, 3 * 3600 + 5 * 60, 2 * 86_400 + 4 * 3600].map(formatUptime), [
      '5 s',
      '2 min',
      '3 h 5 min',
      '2 d 4 h',
    ]);
  });
});
