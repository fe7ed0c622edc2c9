import type { Page, Request } from '@playwright/test';
import type { TestGatehouse } from '../test/helpers/harness.ts';
import {
  type RenkuStandIn,
  readOnlyProject,
  startGatehouseWithRenkuStandIn,
  targetProject,
} from '../test/helpers/renku-stand-in.ts';
import { test as base, expect, signInAtIdp } from './fixtures.ts';

// Issue 23: the connector's project list with many projects, far from Renku. A Renku-shaped
// stand-in (the demo data service, verifying the JWT Gatehouse sends, behind a front that
// counts calls, holds pages and fails them) gives alice 240 projects on three pages of 100.

const test = base.extend<{ renkuFar: { gatehouse: TestGatehouse; renku: RenkuStandIn } }>({
  renkuFar: async ({}, use) => {
    const started = await startGatehouseWithRenkuStandIn();
    await use(started);
    await started.stop();
  },
});

const soil = { doi: 'doi:10.5072/FK2/J8SJZB', title: 'Soil moisture in alpine meadows, 2019–2022' };

/** Signs alice in (at full speed: the sign-in is not what is measured), landing on the home page. */
async function signInAsAlice(page: Page, gatehouse: TestGatehouse): Promise<void> {
  await page.goto(`${gatehouse.url}/auth/login?returnTo=%2F`);
  await expect(page).toHaveURL(new RegExp(`^${gatehouse.issuer}/interaction/`));
  await signInAtIdp(page, 'alice');
  await expect(page).toHaveURL(`${gatehouse.url}/`);
}

/** 300 ms between the browser and Gatehouse, as to a hosted Renku, through DevTools' network emulation. */
async function slowNetwork(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 300,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
}

/** The permission calls the page sends (as the browser sends them, before any answer). */
function watchPermissionCalls(page: Page): string[] {
  const calls: string[] = [];
  page.on('request', (request: Request) => {
    const match = /\/api\/renku\/projects\/([^/]+)\/permissions$/.exec(new URL(request.url()).pathname);
    if (match) calls.push(match[1]!);
  });
  return calls;
}

const projectOptions = (page: Page) => page.locator('#project option:not([value=""])');
const projectSelect = (page: Page) => page.getByLabel('Renku project', { exact: true });
const filter = (page: Page) => page.getByLabel('Filter your projects by name, namespace or slug');

/** The id of the project the page labels `label`. */
async function idOf(page: Page, label: string): Promise<string> {
  return (await page.locator('#project option', { hasText: label }).first().getAttribute('value'))!;
}

test('with 300 ms to Gatehouse, the first page of 240 projects can be picked while Renku still holds the rest, and write access is asked only for what is picked, once', async ({
  page,
  renkuFar,
}) => {
  const { gatehouse, renku } = renkuFar;
  await signInAsAlice(page, gatehouse);
  // When the first project becomes pickable, by the page's own clock.
  await page.addInitScript(() => {
    const seen = new MutationObserver(() => {
      if (document.querySelector('#project option:not([value=""])')) {
        (window as { firstProjectAt?: number }).firstProjectAt = performance.now();
        seen.disconnect();
      }
    });
    seen.observe(document, { childList: true, subtree: true });
  });
  await slowNetwork(page);
  const permissionCalls = watchPermissionCalls(page);
  renku.holdPagesAfterFirst();
  await page.goto(`${gatehouse.url}/connector`);

  // The list appears with the first page: pages 2 and 3 are held at Renku until a project of
  // page 1 has been picked below, so nothing but page 1 can have put these 100 projects here.
  await expect(projectOptions(page)).toHaveCount(100);
  await expect(page.locator('#project-progress')).toHaveText('Loading your projects: 100 of 240 so far…');
  await expect(page.locator('#project-count')).toHaveText('100 projects so far');
  const timing = await page.evaluate(() => {
    const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    const first = (window as { firstProjectAt?: number }).firstProjectAt!;
    return {
      fromReady: Math.round(first - navigation.domContentLoadedEventEnd),
      fromHtml: Math.round(first - navigation.responseEnd),
    };
  });
  console.log(
    `first pickable project: ${timing.fromReady} ms after the page was ready (DOMContentLoaded), ${timing.fromHtml} ms after its HTML arrived, at 300 ms latency`,
  );
  await expect.poll(() => renku.heldPages).toBe(2);
  expect(renku.permissionCalls).toEqual([]);

  // Picking asks Renku once, for that project.
  const station = await idOf(page, 'alpine-lab/station-042');
  await projectSelect(page).selectOption({ label: 'alpine-lab/station-042' });
  await expect.poll(() => renku.permissionCalls).toEqual([station]);
  await expect(page.locator('#project-note')).toBeHidden();
  expect(renku.heldPages, 'the later pages were still held when the project was picked').toBe(2);

  renku.releasePages();
  await expect(page.locator('#project-count')).toHaveText('240 projects');
  await expect(page.locator('#project-progress')).toHaveText('');
  await expect(projectOptions(page)).toHaveCount(240);
  await expect(projectSelect(page)).toHaveValue(station);

  // Another project is asked about once; going back to the first asks nothing: it is remembered.
  const climate = await idOf(page, 'alice/climate-models');
  await projectSelect(page).selectOption({ label: 'alice/climate-models' });
  await expect.poll(() => renku.permissionCalls).toEqual([station, climate]);
  await projectSelect(page).selectOption({ label: 'alpine-lab/station-042' });
  await expect(page.locator('#project-connectors-heading')).toHaveText('Data connectors of alpine-lab/station-042');
  expect(permissionCalls).toEqual([station, climate]);

  // "target" leaves one project of 240; the chosen one stays in view, where it was.
  await filter(page).fill('target');
  await expect(page.locator('#project-count')).toHaveText('1 of 240 projects');
  await expect(projectOptions(page)).toHaveText(['alpine-lab/station-042', targetProject]);
  // Keyboard alone: Enter in the filter picks the one match and moves to the list.
  await filter(page).press('Enter');
  await expect(projectSelect(page)).toBeFocused();
  await expect(page.locator('#project option:checked')).toHaveText(targetProject);
  const target = await idOf(page, targetProject);
  await expect.poll(() => renku.permissionCalls).toEqual([station, climate, target]);
  await expect(projectOptions(page)).toHaveText([targetProject]);

  // Linking works, and asks no permission of its own.
  await page.getByLabel('DOI, dataset link or keywords').fill(soil.doi);
  await page.getByLabel('DOI, dataset link or keywords').press('Enter');
  await expect(page.getByRole('heading', { level: 2, name: soil.title })).toBeFocused();
  await page.getByRole('button', { name: 'Link to the project' }).click();
  await expect(page.locator('#outcome')).toContainText(
    `“${soil.title}” is linked to ${targetProject} — mounted read-only in your sessions.`,
  );
  await expect(page.locator('#project-connector-list li.this-dataset')).toContainText(soil.title);

  // A read-only project says so as soon as it is picked, before Link is pressed.
  await filter(page).fill('glacier');
  await expect(page.locator('#project-count')).toHaveText('1 of 240 projects');
  await projectSelect(page).selectOption({ label: readOnlyProject });
  await expect(page.locator('#project-note')).toHaveText(
    `You may only read ${readOnlyProject}: Renku will not let you link data to it. Choose a project you own or edit.`,
  );
  await expect(page.locator('#project option:checked')).toHaveText(`${readOnlyProject} (read-only)`);
  expect(renku.permissionCalls).toEqual([station, climate, target, await idOf(page, readOnlyProject)]);
  expect(permissionCalls).toEqual(renku.permissionCalls);
  expect(renku.pageCalls).toEqual([1, 2, 3]);
});

test('a failed page says which failure it was, Renku unreachable or its anonymous answer, while the projects shown stay usable', async ({
  page,
  renkuFar,
}) => {
  const { gatehouse, renku } = renkuFar;
  await signInAsAlice(page, gatehouse);
  renku.failPage(2, 'unreachable');
  await page.goto(`${gatehouse.url}/connector`);

  const problem = page.locator('#projects-problem');
  await expect(problem.getByRole('heading')).toHaveText('Page 2 of your projects: Renku is unavailable');
  await expect(problem).toContainText('Renku is not answering (HTTP 502).');
  await expect(page.locator('#project-progress')).toHaveText(
    'Loaded 100 of 240 projects; the rest could not be loaded.',
  );
  await expect(projectOptions(page)).toHaveCount(100);
  await expect(page.locator('#problem'), "the page's own problem box is left for the user's actions").toBeHidden();

  // The projects shown stay usable, from the keyboard alone: filter, ArrowDown to the list, pick, link.
  await filter(page).fill('climate');
  await expect(page.locator('#project-count')).toHaveText('1 of 100 projects so far');
  await filter(page).press('ArrowDown');
  await expect(projectSelect(page)).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(page.locator('#project option:checked')).toHaveText('alice/climate-models');
  await expect.poll(() => renku.permissionCalls.length).toBe(1);
  await page.getByLabel('DOI, dataset link or keywords').fill(soil.doi);
  await page.getByLabel('DOI, dataset link or keywords').press('Enter');
  await expect(page.getByRole('heading', { level: 2, name: soil.title })).toBeFocused();
  await page.getByRole('button', { name: 'Link to the project' }).click();
  await expect(page.locator('#outcome')).toContainText(`“${soil.title}” is linked to alice/climate-models`);
  await expect(problem, 'the failed page is still said').toBeVisible();

  // Renku answers page 2 as it answers an anonymous caller: said so, with the audience hint.
  renku.failPage(2, 'anonymous');
  await page.getByRole('button', { name: 'Load the rest again' }).click();
  await expect(problem.getByRole('heading')).toHaveText('Page 2 of your projects: Renku stopped listing your projects');
  await expect(page.locator('#projects-problem-hint')).toContainText(
    "the IdP may not add the `renku` audience to Gatehouse's tokens",
  );
  await expect(page.locator('#project option:checked')).toHaveText('alice/climate-models');

  await page.getByRole('button', { name: 'Load the rest again' }).click();
  await expect(problem).toBeHidden();
  await filter(page).fill('');
  await expect(page.locator('#project-count')).toHaveText('240 projects');
  await expect(page.locator('#project-progress')).toHaveText('');
  await expect(page.locator('#project option:checked')).toHaveText('alice/climate-models');
  expect(renku.permissionCalls).toHaveLength(1);
});
