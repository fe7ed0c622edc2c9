import type { Page } from '@playwright/test';
import { startDemoApis } from '../server/dev/demo-apis.ts';
import { writeApisFile } from '../test/helpers/apis-file.ts';
import { startGatehouse, TestClock, type TestGatehouse } from '../test/helpers/harness.ts';
import { freePort } from '../test/helpers/ports.ts';
import { SwitchableUpstream } from '../test/helpers/switchable-upstream.ts';
import { test as base, expect, signInAtIdp } from './fixtures.ts';

// The connector in Chromium, as a newcomer meets it after `npm start`: the embedded IdP and
// the demo APIs. Gatehouse and the demo APIs share a TestClock, so an import job moves on only
// when a test moves the clock, after it has seen the previous state on the page.

interface Connector {
  gatehouse: TestGatehouse;
  clock: TestClock;
}

const test = base.extend<{ renkuThatFails: Connector & { renku: SwitchableUpstream } }, { connector: Connector }>({
  connector: [
    async ({}, use) => {
      const clock = new TestClock();
      const gatehouse = await startGatehouse({}, { clock: clock.read });
      await use({ gatehouse, clock });
      await gatehouse.stop();
    },
    { scope: 'worker' },
  ],
  // The demo APIs declared in a GATEHOUSE_APIS file, Renku behind a front that can go down.
  renkuThatFails: async ({}, use) => {
    const clock = new TestClock();
    const idpPort = await freePort();
    const demo = await startDemoApis({ issuer: `http://127.0.0.1:${idpPort}`, clock: clock.read });
    const renku = await new SwitchableUpstream(demo.renkuUrl).start();
    const apis = writeApisFile([
      { name: 'dataverse', url: demo.dataverseUrl, token: 'user', audience: 'dataverse' },
      { name: 'renku', url: renku.url, token: 'user', audience: 'renku' },
    ]);
    const gatehouse = await startGatehouse({ GATEHOUSE_APIS: apis, GATEHOUSE_DEV_IDP_PORT: String(idpPort) }, { clock: clock.read });
    await use({ gatehouse, clock, renku });
    await gatehouse.stop();
    await renku.stop();
    await demo.close();
  },
});

// A phone-sized window: everything must fit without sideways scrolling.
test.use({ viewport: { width: 360, height: 780 } });

const soil = { doi: 'doi:10.5072/FK2/J8SJZB', title: 'Soil moisture in alpine meadows, 2019–2022' };

/** Opens the connector as an anonymous visitor and signs in at the IdP, which sends the browser back. */
async function openConnector(page: Page, gatehouse: TestGatehouse, path = '/connector'): Promise<void> {
  await page.goto(`${gatehouse.url}${path}`);
  await expect(page).toHaveURL(new RegExp(`^${gatehouse.issuer}/interaction/`));
  await signInAtIdp(page, 'alice');
  await expect(page).toHaveURL(`${gatehouse.url}${path}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Import a Dataverse dataset into Renku');
}

async function fitsTheWindow(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

/** Script errors, CSP refusals and failed responses (but the favicon Gatehouse does not have). */
function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('response', (response) => {
    if (response.status() >= 400 && new URL(response.url()).pathname !== '/favicon.ico') errors.push(`${response.status()} ${response.url()}`);
  });
  return errors;
}

test('alice signs in from the connector, looks up the demo DOI, imports it into a project, and sees it complete and listed', async ({ page, connector }) => {
  const { gatehouse, clock } = connector;
  const errors = watchForErrors(page);
  await openConnector(page, gatehouse);

  // Keyboard: type and press Enter; focus moves to what was found.
  await page.getByLabel('DOI, dataset link or keywords').fill(soil.doi);
  await page.keyboard.press('Enter');
  const title = page.getByRole('heading', { level: 2, name: soil.title });
  await expect(title).toBeFocused();
  await expect(page.locator('#dataset-authors li')).toHaveText(['Dupont, Claire (INRAE)', 'Meier, Jonas (ETH Zürich)']);
  await expect(page.locator('#dataset-files tbody tr').first()).toHaveText(/soil_moisture_2019_2022\.csv\s*1\.8 MB\s*text\/csv/);
  await expect(page.locator('#dataset-files tbody tr')).toHaveCount(3);
  await expect(page).toHaveURL(/\?q=doi%3A10\.5072%2FFK2%2FJ8SJZB$/);
  expect(await fitsTheWindow(page)).toBe(true);

  // Keyboard on: Tab to the project list, pick the first project, Tab to Import, Enter.
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Renku project', { exact: true })).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(page.getByLabel('Renku project', { exact: true })).toHaveValue('101');
  await expect(page.locator('#project-datasets')).toContainText('No datasets yet.');
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', { name: 'Import into Renku' })).toBeFocused();
  await page.keyboard.press('Enter');

  const status = page.getByRole('status');
  await expect(status).toHaveText('Queued: Renku will start the import shortly.');
  await expect(page.locator('#job-steps li[aria-current="step"]')).toHaveText('Queued');
  await expect(page).toHaveURL(/&project=101&job=[0-9a-f-]{36}$/);
  clock.advance(500);
  await expect(status).toHaveText('Importing: Renku is copying the dataset\'s files into the project.');
  await expect(page.locator('#job-steps li[aria-current="step"]')).toHaveText('Importing');
  clock.advance(1500);
  const outcome = page.locator('#outcome');
  await expect(outcome).toBeFocused();
  await expect(outcome).toContainText(`“${soil.title}” is now in alice/climate-models.`);
  await expect(status).toHaveText(`Imported “${soil.title}” into alice/climate-models.`);
  await expect(page.locator('#project-dataset-list li.just-imported')).toContainText(soil.title);
  await expect(page).toHaveURL(/\?q=doi%3A10\.5072%2FFK2%2FJ8SJZB&project=101$/);
  expect(await fitsTheWindow(page)).toBe(true);

  // The link to the result: the project's datasets, from the server again.
  await outcome.getByRole('link', { name: 'See it among the project\'s datasets' }).click();
  await expect(page).toHaveURL(`${gatehouse.url}/connector?project=101#project-datasets`);
  await expect(page.getByLabel('Renku project', { exact: true })).toHaveValue('101');
  await expect(page.locator('#project-datasets')).toBeFocused();
  await expect(page.locator('#project-dataset-list li')).toHaveText([new RegExp(`^${soil.title} ${soil.doi}$`)]);
  expect(errors).toEqual([]);
});

test('a malformed DOI is refused in the page before any call, with the message in focus', async ({ page, connector }) => {
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
  await results.getByRole('button', { name: 'Show “Wheat yield trials under drought stress”' }).click();
  await expect(page.getByRole('heading', { level: 2, name: 'Wheat yield trials under drought stress' })).toBeFocused();
  await expect(page.getByLabel('DOI, dataset link or keywords')).toHaveValue('doi:10.5072/FK2/QXW3RT');
});

test('a failed import says why, keeps the dataset and project, and the retry completes it', async ({ page, connector }) => {
  const { gatehouse, clock } = connector;
  await openConnector(page, gatehouse);
  await page.getByText('Demo datasets to try').click();
  await page.getByRole('button', { name: 'doi:10.5072/FK2/FLAKY' }).click();
  const flakyTitle = 'Glacier runoff gauges (first import fails, a retry works: demo of a retry)';
  await expect(page.getByRole('heading', { level: 2, name: flakyTitle })).toBeFocused();
  await page.getByLabel('Renku project', { exact: true }).selectOption({ label: 'alice/soil-survey' });
  await page.getByRole('button', { name: 'Import into Renku' }).click();
  await expect(page.getByRole('status')).toHaveText('Queued: Renku will start the import shortly.');
  clock.advance(2000);

  const problem = page.locator('#problem');
  await expect(problem).toBeFocused();
  await expect(problem.getByRole('heading')).toHaveText('The import failed');
  await expect(problem).toContainText(`Renku could not import “${flakyTitle}” into alice/soil-survey: The download from Dataverse was interrupted`);
  await expect(problem).toContainText('Nothing was added to the project');
  await expect(page.getByRole('heading', { level: 2, name: flakyTitle })).toBeVisible();
  await expect(page.getByLabel('Renku project', { exact: true })).toHaveValue('102');
  await expect(page.locator('#project-dataset-list')).toHaveText('No datasets yet.');

  await page.getByRole('button', { name: 'Try again' }).click();
  await expect(problem).toBeHidden();
  await expect(page.getByRole('status')).toHaveText('Queued: Renku will start the import shortly.');
  clock.advance(2000);
  await expect(page.locator('#outcome')).toContainText(`“${flakyTitle}” is now in alice/soil-survey.`);
  await expect(page.locator('#project-dataset-list li.just-imported')).toContainText(flakyTitle);
});

test('when the session has ended, the page says so, and "Sign in again" comes back with the form filled', async ({ page, connector }) => {
  const { gatehouse, clock } = connector;
  await openConnector(page, gatehouse);
  await page.getByLabel('DOI, dataset link or keywords').fill(soil.doi);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 2, name: soil.title })).toBeVisible();
  await page.getByLabel('Renku project', { exact: true }).selectOption({ label: 'alice/soil-survey' });

  // The IdP ends the grant (as an admin's "sign out everywhere" would); the next token refresh fails.
  const { grants, idp } = gatehouse.gh.deps;
  for (const id of await grants.idsBySub('alice')) {
    const grant = await grants.get(id);
    if (grant) await idp.revoke(grants.tokens(grant).refreshToken!, 'refresh_token');
  }
  clock.advance(10 * 60_000);

  await page.getByRole('button', { name: 'Import into Renku' }).click();
  const problem = page.locator('#problem');
  await expect(problem).toBeFocused();
  await expect(problem.getByRole('heading')).toHaveText('Your session has ended');
  const formUrl = `${gatehouse.url}/connector?q=${encodeURIComponent(soil.doi)}&project=102`;
  await expect(page).toHaveURL(formUrl);
  await page.getByRole('button', { name: 'Sign in again' }).click();
  await expect(page).toHaveURL(formUrl);

  await expect(page.getByLabel('DOI, dataset link or keywords')).toHaveValue(soil.doi);
  await expect(page.getByRole('heading', { level: 2, name: soil.title })).toBeVisible();
  await expect(page.getByLabel('Renku project', { exact: true })).toHaveValue('102');
  await page.getByRole('button', { name: 'Import into Renku' }).click();
  await expect(page.getByRole('status')).toHaveText('Queued: Renku will start the import shortly.');
  clock.advance(2000);
  await expect(page.locator('#outcome')).toContainText(`“${soil.title}” is now in alice/soil-survey.`);
});

test('when Renku is down the page says so with "Try again", and trying again once it is back works', async ({ page, renkuThatFails }) => {
  const { gatehouse, clock, renku } = renkuThatFails;
  renku.up = false;
  await openConnector(page, gatehouse);
  const problem = page.locator('#problem');
  await expect(problem).toBeFocused();
  await expect(problem.getByRole('heading')).toHaveText('Renku is unavailable');
  await expect(problem).toContainText('Renku is not answering (HTTP 502).');
  await expect(page.getByLabel('Renku project', { exact: true })).toHaveValue('');

  renku.up = true;
  await page.getByRole('button', { name: 'Try again' }).click();
  await expect(problem).toBeHidden();
  await page.getByLabel('Renku project', { exact: true }).selectOption({ label: 'alice/climate-models' });

  // Down again just as the import is asked for: nothing was imported, and the retry does it.
  await page.getByLabel('DOI, dataset link or keywords').fill(soil.doi);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 2, name: soil.title })).toBeFocused();
  renku.up = false;
  await page.getByRole('button', { name: 'Import into Renku' }).click();
  await expect(problem).toBeFocused();
  await expect(problem).toContainText('Nothing was imported. Try again in a minute.');
  renku.up = true;
  await page.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByRole('status')).toHaveText('Queued: Renku will start the import shortly.');
  clock.advance(2000);
  await expect(page.locator('#outcome')).toContainText(`“${soil.title}” is now in alice/climate-models.`);
});
