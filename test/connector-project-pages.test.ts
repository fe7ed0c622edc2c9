import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { describeError } from '../public/js/connector-errors.js';
import { AnonymousAnswer, listProjects, maxPages, projectPages } from '../public/js/renku-client.js';
import type { ProjectPage } from '../public/js/types.js';
import { ConnectorPageContext, rejection } from './helpers/connector-page-context.ts';
import { eventually } from './helpers/eventually.ts';
import { CookieBrowser, signIn } from './helpers/harness.ts';
import { type RenkuStandIn, standInProjects, startGatehouseWithRenkuStandIn } from './helpers/renku-stand-in.ts';

// The connector's project pages (renku-client.js's projectPages) against a real Gatehouse and a
// Renku-shaped stand-in (the demo data service with 240 projects for alice, three pages of
// 100, verifying the JWT Gatehouse sends) that holds and fails pages when told to.

describe('240 projects on three pages', () => {
  let started: Awaited<ReturnType<typeof startGatehouseWithRenkuStandIn>>;
  let renku: RenkuStandIn;
  let page: ConnectorPageContext;
  before(async () => {
    started = await startGatehouseWithRenkuStandIn();
    renku = started.renku;
    const browser = new CookieBrowser();
    await signIn(started.gatehouse, browser, 'alice');
    page = new ConnectorPageContext(started.gatehouse.url, browser);
  });
  after(async () => {
    page.restore();
    await started.stop();
  });

  test('the first page is given while the later ones are still held at Renku, and the rest follow in order', {
    timeout: 60_000,
  }, async () => {
    renku.holdPagesAfterFirst();
    const pages = projectPages();
    const first = await pages.next();
    assert.ok(!first.done);
    assert.deepEqual(
      { ...first.value, projects: first.value.projects.length },
      { page: 1, projects: 100, total: 240, totalPages: 3, last: false, truncated: false },
    );
    assert.equal(first.value.projects[0]!.slug, 'climate-models');
    const rest: ProjectPage[] = [];
    const reading = (async () => {
      for (let next = await pages.next(); !next.done; next = await pages.next()) rest.push(next.value);
    })();
    // Pages 2 and 3 are asked for together once page 1 has said there are three. Bounded, and a
    // failed read ends the wait with its own error, so a broken page fails rather than hangs.
    let failed: unknown;
    reading.catch((error: unknown) => {
      failed = error;
    });
    await eventually(
      () => {
        if (failed) throw failed;
        return renku.heldPages >= 2;
      },
      'pages 2 and 3 are asked for while held',
      { timeoutMs: 30_000 },
    );
    assert.equal(rest.length, 0, 'no later page is given while it is held');
    renku.releasePages();
    await reading;
    assert.deepEqual(
      rest.map((p) => [p.page, p.projects.length, p.last]),
      [
        [2, 100, false],
        [3, 40, true],
      ],
    );
    assert.deepEqual(renku.permissionCalls, [], 'no permission is asked while listing');
  });

  test('a page Renku answers as it answers an anonymous caller is an AnonymousAnswer, said with the audience hint, after the pages before it', async () => {
    renku.failPage(2, 'anonymous');
    const seen: number[] = [];
    const error = await rejection(
      (async () => {
        for await (const read of projectPages()) seen.push(read.page);
      })(),
    );
    assert.deepEqual(seen, [1]);
    assert.ok(error instanceof AnonymousAnswer);
    assert.equal(error.page, 2);
    const problem = describeError(error, { action: 'projects' });
    assert.equal(problem.title, 'Renku stopped listing your projects');
    assert.match(problem.message, /page 2 of your projects with none at all/);
    assert.match(problem.hint!, /the IdP may not add the `renku` audience to Gatehouse's tokens/);
    assert.equal(problem.action, 'retry');

    // Carrying on from the failed page reads the rest.
    const rest: number[] = [];
    for await (const read of projectPages(2)) rest.push(read.page);
    assert.deepEqual(rest, [2, 3]);
  });

  test('a page whose connection is cut is "Renku is unavailable (HTTP 502)", after the pages before it', async () => {
    renku.failPage(3, 'unreachable');
    const seen: number[] = [];
    const error = await rejection(
      (async () => {
        for await (const read of projectPages()) seen.push(read.page);
      })(),
    );
    assert.deepEqual(seen, [1, 2]);
    assert.equal(error.status, 502);
    const problem = describeError(error, { action: 'projects' });
    assert.equal(problem.title, 'Renku is unavailable');
    assert.match(problem.message, /Renku is not answering \(HTTP 502\)/);
    assert.equal(problem.action, 'retry');
  });

  test('listProjects still reads every page, and asks no permission', async () => {
    const before = renku.permissionCalls.length;
    const projects = await listProjects();
    assert.equal(projects.length, 240);
    assert.equal(new Set(projects.map((p) => p.id)).size, 240);
    assert.equal(renku.permissionCalls.length, before);
  });
});

describe('a Renku with more pages than the connector reads', () => {
  let started: Awaited<ReturnType<typeof startGatehouseWithRenkuStandIn>>;
  let page: ConnectorPageContext;
  before(async () => {
    started = await startGatehouseWithRenkuStandIn(standInProjects(maxPages * 100 + 150));
    const browser = new CookieBrowser();
    await signIn(started.gatehouse, browser, 'alice');
    page = new ConnectorPageContext(started.gatehouse.url, browser);
  });
  after(async () => {
    page.restore();
    await started.stop();
  });

  test('reads at most 50 pages of 100, and says the list was cut', async () => {
    const pages: ProjectPage[] = [];
    for await (const read of projectPages()) pages.push(read);
    assert.equal(maxPages, 50);
    assert.equal(pages.length, 50);
    assert.deepEqual(
      pages.map((p) => p.page),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      [...new Set(started.renku.pageCalls)].sort((a, b) => a - b),
      pages.map((p) => p.page),
    );
    const last = pages.at(-1)!;
    assert.deepEqual([last.last, last.truncated, last.totalPages, last.total], [true, true, 52, 5150]);
    assert.equal(pages.filter((p) => p.truncated).length, 1);
  });
});
