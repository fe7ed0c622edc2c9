import type { Page } from '@playwright/test';
import type { DemoApis } from '../server/dev/demo-apis.ts';
import { writeApisFile } from '../test/helpers/apis-file.ts';
import { startGatehouse, TestClock, type TestGatehouse } from '../test/helpers/harness.ts';
import { startGatehouseAfterDemoApis } from '../test/helpers/demo-first.ts';
import { SwitchableUpstream } from '../test/helpers/switchable-upstream.ts';
import { test as base, expect, signInAtIdp } from './fixtures.ts';

// The connector in Chromium, as a newcomer meets it after `npm start`: the embedded IdP, the
// demo Dataverse and the demo Renku 2.x data service (bare arrays paged by headers, ULIDs,
// global DOI connectors, 201/200/409/404/422). alice has 103 projects: two pages of 100.

interface Connector {
  gatehouse: TestGatehouse;
  clock: TestClock;
  demo: DemoApis;
}

/**
 * Gatehouse with the demo APIs declared in a real GATEHOUSE_APIS file, built by `upstreams`;
 * `renkuFront` is the demo Renku's base URL, behind a front that can go down when asked for.
 */
async function startWithApis(
  upstreams: (demo: DemoApis, renkuFront: string) => unknown[],
  { switchable = false } = {},
): Promise<Connector & { renku?: SwitchableUpstream; stop(): Promise<void> }> {
  const clock = new TestClock();
  let renku: SwitchableUpstream | undefined;
  const { demo, gatehouse } = await startGatehouseAfterDemoApis(
    async (demo) => {
      await renku?.stop(); // from an attempt whose IdP port was taken
      renku = switchable ? await new SwitchableUpstream(demo.renkuUrl).start() : undefined;
      const front = renku ? `${renku.url}/api/data` : demo.renkuUrl;
      return { GATEHOUSE_APIS: writeApisFile(upstreams(demo, front)) };
    },
    { demo: { clock: clock.read }, gatehouse: { clock: clock.read } },
  );
  return {
    gatehouse,
    clock,
    demo,
    ...(renku ? { renku } : {}),
    async stop() {
      await gatehouse.stop();
      await renku?.stop();
      await demo.close();
    },
  };
}

const test = base.extend<
  { renkuThatFails: Connector & { renku: SwitchableUpstream }; anonymousToRenku: Connector },
  { connector: Connector }
>({
  connector: [
    async ({}, use) => {
      const clock = new TestClock();
      const gatehouse = await startGatehouse({}, { clock: clock.read });
      await use({ gatehouse, clock, demo: gatehouse.gh.demoApis! });
      await gatehouse.stop();
    },
    { scope: 'worker' },
  ],
  // The demo APIs declared in a GATEHOUSE_APIS file, Renku behind a front that can go down.
  renkuThatFails: async ({}, use) => {
    const started = await startWithApis(
      (demo, front) => [
        { name: 'dataverse', url: demo.dataverseUrl, token: 'user', audience: 'dataverse' },
        { name: 'renku', url: front, token: 'user', audience: 'renku' },
      ],
      { switchable: true },
    );
    await use({ ...started, renku: started.renku! });
    await started.stop();
  },
  // The IdP gives Gatehouse a token without the `renku` audience, and no audience is declared to catch it.
  anonymousToRenku: async ({}, use) => {
    const started = await startWithApis((demo) => [
      { name: 'dataverse', url: demo.dataverseUrl, token: 'user', audience: 'dataverse' },
      { name: 'renku', url: demo.renkuUrl, token: 'user', resource: 'urn:gatehouse:stats' },
    ]);
    await use(started);
    await started.stop();
  },
});

// A phone-sized window: everything must fit without sideways scrolling.
test.use({ viewport: { width: 360, height: 780 } });

const soil = { doi: 'doi:10.5072/FK2/J8SJZB', title: 'Soil moisture in alpine meadows, 2019–2022' };
const wheat = { doi: 'doi:10.5072/FK2/QXW3RT', title: 'Wheat yield trials under drought stress' };

/** Opens the connector as an anonymous visitor and signs in at the IdP, which sends the browser back. */
async function openConnector(page: Page, gatehouse: TestGatehouse, path = '/connector'): Promise<void> {
  await page.goto(`${gatehouse.url}${path}`);
  await expect(page).toHaveURL(new RegExp(`^${gatehouse.issuer}/interaction/`));
  await signInAtIdp(page, 'alice');
  await expect(page).toHaveURL(`${gatehouse.url}${path}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Link a Dataverse dataset to Renku');
}

async function lookUp(page: Page, doi: string, title: string): Promise<void> {
  await page.getByLabel('DOI, dataset link or keywords').fill(doi);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 2, name: title })).toBeFocused();
}

const projectSelect = (page: Page) => page.getByLabel('Renku project', { exact: true });

async function chooseProject(page: Page, label: string): Promise<void> {
  await projectSelect(page).selectOption({ label });
}

async function fitsTheWindow(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

/** Script errors, CSP refusals and failed responses but those `expected`. */
function watchForErrors(page: Page, expected: RegExp[] = []): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
      errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('response', (response) => {
    const line = `${response.status()} ${response.request().method()} ${new URL(response.url()).pathname}`;
    if (response.status() >= 400 && !expected.some((pattern) => pattern.test(line))) errors.push(line);
  });
  return errors;
}

test("alice finds a DOI, picks from her projects across two pages, links it, sees it among the project's connectors, and a second try says already linked", async ({
  page,
  connector,
}) => {
  const { gatehouse, demo } = connector;
  const errors = watchForErrors(page, [/^409 POST \/api\/renku\/data_connectors\/[0-9A-Z]{26}\/project_links$/]);
  await openConnector(page, gatehouse);

  await lookUp(page, soil.doi, soil.title);
  await expect(page.locator('#dataset-authors li')).toHaveText(['Dupont, Claire (INRAE)', 'Meier, Jonas (ETH Zürich)']);
  await expect(page.locator('#dataset-files tbody tr')).toHaveCount(3);
  await expect(page).toHaveURL(/\?q=doi%3A10\.5072%2FFK2%2FJ8SJZB$/);

  // 103 projects: both pages of Renku's answer are there, in Renku's order.
  await expect(page.locator('#project-count')).toHaveText('103 projects');
  await expect(page.locator('#project-progress')).toHaveText('');
  const projects = page.locator('#project option:not([value=""])');
  await expect(projects).toHaveCount(103);
  await expect(projects.first()).toHaveText('alice/climate-models');
  await expect(projects.nth(101)).toHaveText('alpine-lab/station-100');
  expect(await fitsTheWindow(page)).toBe(true);

  // Keyboard: Tab past the filter to the project list, pick the first project, Tab to Link, Enter.
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Filter your projects by name, namespace or slug')).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(projectSelect(page)).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(page.locator('#project option:checked')).toHaveText('alice/climate-models');
  await expect(page.locator('#project-connectors')).toContainText('No data connectors yet.');

  // Hold Renku's DOI check, as a real one takes seconds, to see the page say what is going on.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/api/renku/data_connectors/global', async (route) => {
    await held;
    await route.continue();
  });
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', { name: 'Link to the project' })).toBeFocused();
  await page.keyboard.press('Enter');
  const status = page.getByRole('status');
  await expect(status).toHaveText(
    `Renku is checking ${soil.doi} and testing access to the dataset; this can take a few seconds…`,
  );
  await expect(page.locator('#link-steps li[aria-current="step"]')).toHaveText('Renku checks the DOI');
  await expect(page.getByRole('button', { name: 'Link to the project' })).toBeDisabled();
  release();

  const outcome = page.locator('#outcome');
  await expect(outcome).toBeFocused();
  await expect(outcome).toContainText(
    `“${soil.title}” is linked to alice/climate-models — mounted read-only in your sessions.`,
  );
  await expect(status).toHaveText(`Linked “${soil.title}” to alice/climate-models.`);
  await expect(page.locator('#link-steps li.done')).toHaveCount(3);
  await expect(page.locator('#project-connector-list li.this-dataset')).toHaveText(
    `${soil.title} Demo Dataverse · doi:10.5072/FK2/J8SJZB this dataset`,
  );
  await expect(page).toHaveURL(/\?q=doi%3A10\.5072%2FFK2%2FJ8SJZB&project=[0-9A-Z]{26}$/);
  expect(await fitsTheWindow(page)).toBe(true);

  // A second try: Renku has the connector (200) and the link (409): said as such, not as an error.
  await page.unroute('**/api/renku/data_connectors/global');
  await page.getByRole('button', { name: 'Link to the project' }).click();
  await expect(outcome).toContainText(
    `“${soil.title}” was already linked to alice/climate-models — mounted read-only in your sessions.`,
  );
  await expect(status).toHaveText('Already linked: nothing to do.');
  await expect(page.locator('#problem')).toBeHidden();
  await expect(page.locator('#project-connector-list li')).toHaveCount(1);

  // The in-page link: the project's connectors, from the server again.
  await outcome.getByRole('link', { name: "See it among the project's data connectors" }).click();
  await expect(page).toHaveURL(/\/connector\?q=doi%3A10\.5072%2FFK2%2FJ8SJZB&project=[0-9A-Z]{26}#project-connectors$/);
  await expect(page.locator('#project option:checked')).toHaveText('alice/climate-models');
  await expect(page.locator('#project-connector-list li.this-dataset')).toContainText(soil.title);

  // The link to the project in Renku (here the demo's stand-in for Renku's project page).
  await page.getByRole('button', { name: 'Link to the project' }).click();
  const toRenku = outcome.getByRole('link', { name: 'Open the project in Renku' });
  await expect(toRenku).toHaveAttribute('href', `${demo.renkuWebUrl}/p/alice/climate-models`);
  await toRenku.click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('alice/climate-models');
  await expect(page.locator('li')).toHaveText([soil.title]);
  expect(errors).toEqual([]);
});

test('a project alice may only read says so as soon as it is picked, and linking to it anyway gets the plain "cannot write" message', async ({
  page,
  connector,
}) => {
  await openConnector(page, connector.gatehouse);
  await lookUp(page, wheat.doi, wheat.title);
  await chooseProject(page, 'bob/glacier-archive');
  await expect(page.locator('#project-note')).toHaveText(
    'You may only read bob/glacier-archive: Renku will not let you link data to it. Choose a project you own or edit.',
  );
  await expect(page.locator('#project option:checked')).toHaveText('bob/glacier-archive (read-only)');
  await page.getByRole('button', { name: 'Link to the project' }).click();
  const problem = page.locator('#problem');
  await expect(problem).toBeFocused();
  await expect(problem.getByRole('heading')).toHaveText('You cannot write to this project');
  await expect(problem).toContainText(
    'Renku did not link the dataset: you do not have write access to bob/glacier-archive (or it no longer exists).',
  );
  await expect(problem).toContainText('Nothing was linked.');
  await expect(page.getByRole('button', { name: 'Try again' })).toBeHidden();
  await expect(page.locator('#project-connector-list')).toHaveText('No data connectors yet.');
});

test("a DOI Renku does not support gets Renku's reason in plain words; one never published is not offered at all", async ({
  page,
  connector,
}) => {
  await openConnector(page, connector.gatehouse);
  await page.getByText('Demo datasets to try').click();
  await page.getByRole('button', { name: 'doi:10.5072/FK2/NORCLN' }).click();
  await expect(page.getByRole('heading', { level: 2, name: /^Field notebooks, scanned/ })).toBeFocused();
  await chooseProject(page, 'alice/soil-survey');
  await page.getByRole('button', { name: 'Link to the project' }).click();
  const problem = page.locator('#problem');
  await expect(problem).toBeFocused();
  await expect(problem.getByRole('heading')).toHaveText('Renku cannot link this dataset');
  await expect(problem).toContainText('Renku refused doi:10.5072/FK2/NORCLN: The provided DOI is not supported.');
  await expect(page.getByRole('button', { name: 'Try again' })).toBeHidden();

  await page.getByLabel('DOI, dataset link or keywords').fill('doi:10.5072/FK2/UNPUBL');
  await page.keyboard.press('Enter');
  await expect(problem.getByRole('heading')).toHaveText('Not published yet');
  await expect(page.locator('#dataset')).toBeHidden();

  // A newer draft: the published version is the one shown (and the one Renku would link).
  await page.getByLabel('DOI, dataset link or keywords').fill('doi:10.5072/FK2/DRAFTV');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 2, name: 'Snow depth transects, 2020' })).toBeFocused();
  await expect(page.locator('#dataset-draft')).toBeVisible();
});

test('a link Renku\'s storage test refuses says why with "Try again"; the flaky dataset links on the retry', async ({
  page,
  connector,
}) => {
  await openConnector(page, connector.gatehouse);
  await lookUp(page, 'doi:10.5072/FK2/FAIL', 'Lake sediment cores (linking always fails: demo of a failure)');
  await chooseProject(page, 'alpine-lab/station-001');
  await page.getByRole('button', { name: 'Link to the project' }).click();
  const problem = page.locator('#problem');
  await expect(problem).toBeFocused();
  await expect(problem).toContainText(
    'The provided storage configuration is not currently working. Listing the files of the dataset failed',
  );

  const flakyTitle = 'Glacier runoff gauges (first link fails, a retry works: demo of a retry)';
  await lookUp(page, 'doi:10.5072/FK2/FLAKY', flakyTitle);
  await page.getByRole('button', { name: 'Link to the project' }).click();
  await expect(problem).toBeFocused();
  await expect(problem).toContainText('did not answer in time');
  await expect(page.getByRole('heading', { level: 2, name: flakyTitle })).toBeVisible();
  await expect(page.locator('#project option:checked')).toHaveText('alpine-lab/station-001');
  await page.getByRole('button', { name: 'Try again' }).click();
  await expect(problem).toBeHidden();
  await expect(page.locator('#outcome')).toContainText(
    `“${flakyTitle}” is linked to alpine-lab/station-001 — mounted read-only in your sessions.`,
  );
  await expect(page.locator('#project-connector-list li.this-dataset')).toContainText(flakyTitle);
});

test('a malformed DOI is refused in the page before any call, with the message in focus', async ({
  page,
  connector,
}) => {
  await openConnector(page, connector.gatehouse);
  const dataverseCalls: string[] = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/dataverse/')) dataverseCalls.push(request.url());
  });
  await page.getByLabel('DOI, dataset link or keywords').fill('doi:10.5072');
  await page.getByRole('button', { name: 'Look up' }).click();
  const problem = page.locator('#problem');
  await expect(problem).toBeFocused();
  await expect(problem.getByRole('heading')).toHaveText('Not a valid DOI');
  await expect(problem).toContainText('“doi:10.5072” is not a valid DOI.');
  await expect(page.getByRole('button', { name: 'Try again' })).toBeHidden();

  // A DOI that is well formed but unknown is asked for, and is "not found".
  await page.getByLabel('DOI, dataset link or keywords').fill('https://doi.org/10.5072/FK2/NOSUCH');
  await page.keyboard.press('Enter');
  await expect(problem.getByRole('heading')).toHaveText('Dataset not found');
  await expect(problem).toBeFocused();
  expect(dataverseCalls).toHaveLength(1);
});

test('a keyword search lists datasets, and one of them can be shown', async ({ page, connector }) => {
  await openConnector(page, connector.gatehouse);
  await page.getByLabel('DOI, dataset link or keywords').fill('wheat');
  await page.keyboard.press('Enter');
  const results = page.locator('#search-results');
  await expect(results).toBeFocused();
  await expect(results.getByRole('heading')).toHaveText('Datasets matching “wheat”');
  await results.getByRole('button', { name: `Show “${wheat.title}”` }).click();
  await expect(page.getByRole('heading', { level: 2, name: wheat.title })).toBeFocused();
  await expect(page.getByLabel('DOI, dataset link or keywords')).toHaveValue(wheat.doi);
});

test('when Renku treats Gatehouse\'s token as anonymous, the page says "no projects" with the audience hint', async ({
  page,
  anonymousToRenku,
}) => {
  await openConnector(page, anonymousToRenku.gatehouse);
  const problem = page.locator('#problem');
  await expect(problem).toBeFocused();
  await expect(problem.getByRole('heading')).toHaveText('No Renku projects');
  await expect(page.locator('#problem-hint')).toHaveText(
    "no projects — if you have some, the IdP may not add the `renku` audience to Gatehouse's tokens",
  );
  await expect(projectSelect(page).locator('option')).toHaveText(['No projects']);
});

test('when the session has ended, the page says so, and "Sign in again" comes back with the form filled', async ({
  page,
  connector,
}) => {
  const { gatehouse, clock } = connector;
  await openConnector(page, gatehouse);
  await lookUp(page, wheat.doi, wheat.title);
  await chooseProject(page, 'alice/soil-survey');

  // The IdP ends the grant (as an admin's "sign out everywhere" would); the next token refresh fails.
  const { grants, idp } = gatehouse.gh.deps;
  for (const id of await grants.idsBySub('alice')) {
    const grant = await grants.get(id);
    if (grant) await idp.revoke(grants.tokens(grant).refreshToken!, 'refresh_token');
  }
  clock.advance(10 * 60_000);

  await page.getByRole('button', { name: 'Link to the project' }).click();
  const problem = page.locator('#problem');
  await expect(problem).toBeFocused();
  await expect(problem.getByRole('heading')).toHaveText('Your session has ended');
  const formUrl = new RegExp(`^${gatehouse.url}/connector\\?q=${encodeURIComponent(wheat.doi)}&project=[0-9A-Z]{26}$`);
  await expect(page).toHaveURL(formUrl);
  await page.getByRole('button', { name: 'Sign in again' }).click();
  await expect(page).toHaveURL(formUrl);

  await expect(page.getByLabel('DOI, dataset link or keywords')).toHaveValue(wheat.doi);
  await expect(page.getByRole('heading', { level: 2, name: wheat.title })).toBeVisible();
  await expect(page.locator('#project option:checked')).toHaveText('alice/soil-survey');
  await page.getByRole('button', { name: 'Link to the project' }).click();
  await expect(page.locator('#outcome')).toContainText(
    `“${wheat.title}” is linked to alice/soil-survey — mounted read-only in your sessions.`,
  );
});

test('when Renku is down the page says so with "Try again", and trying again once it is back works', async ({
  page,
  renkuThatFails,
}) => {
  const { gatehouse, renku } = renkuThatFails;
  renku.up = false;
  await openConnector(page, gatehouse);
  const problem = page.locator('#problem');
  await expect(problem).toBeFocused();
  await expect(problem.getByRole('heading')).toHaveText('Renku is unavailable');
  await expect(problem).toContainText('Renku is not answering (HTTP 502).');
  await expect(projectSelect(page)).toHaveValue('');
  await expect(page.locator('#project-progress')).toHaveText('Your projects could not be loaded.');

  renku.up = true;
  await page.getByRole('button', { name: 'Try again' }).click();
  await expect(problem).toBeHidden();
  await chooseProject(page, 'alice/climate-models');

  // Down again just as the link is asked for: nothing was linked, and the retry does it.
  await lookUp(page, soil.doi, soil.title);
  renku.up = false;
  await page.getByRole('button', { name: 'Link to the project' }).click();
  await expect(problem).toBeFocused();
  await expect(problem).toContainText('Nothing was linked. Try again in a minute.');
  renku.up = true;
  await page.getByRole('button', { name: 'Try again' }).click();
  await expect(page.locator('#outcome')).toContainText(
    `“${soil.title}” is linked to alice/climate-models — mounted read-only in your sessions.`,
  );
});
