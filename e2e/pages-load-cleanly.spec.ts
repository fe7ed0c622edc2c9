import type { Page } from '@playwright/test';
import { expect, signInAtIdp, test } from './fixtures.ts';

/**
 * Everything a page asks the browser for that goes wrong: console errors (a 404 favicon shows
 * up as "Failed to load resource"), script errors, answers of 400 and above, and requests that
 * never got an answer.
 */
function watchForProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => problems.push(`script: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });
  page.on('requestfailed', (request) => problems.push(`failed: ${request.url()} (${request.failure()?.errorText})`));
  return problems;
}

/** Waits until the page, and what it loads after the document (the favicon), has settled. */
async function settled(page: Page): Promise<void> {
  await page.waitForLoadState('networkidle');
}

test("the sign-in page, the IdP's login page, the home page and the connector load without a console error or a failed request", async ({
  page,
  gatehouse,
}) => {
  const problems = watchForProblems(page);

  await page.goto(`${gatehouse.url}/`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sign in');
  await settled(page);

  await page.getByRole('link', { name: `Sign in with ${new URL(gatehouse.issuer).host}` }).click();
  await expect(page).toHaveURL(new RegExp(`^${gatehouse.issuer}/interaction/`));
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Development IdP');
  await settled(page);

  await signInAtIdp(page, 'alice');
  await expect(page).toHaveURL(`${gatehouse.url}/`);
  await expect(page.locator('#user-name')).toHaveText('Alice Liddell');
  await settled(page);

  await page.goto(`${gatehouse.url}/connector`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Link a Dataverse dataset to Renku');
  await settled(page);

  expect(problems).toEqual([]);
});

test('Gatehouse and the embedded IdP each show their own icon', async ({ page, gatehouse }) => {
  for (const url of [`${gatehouse.url}/`, `${gatehouse.url}/auth/login`]) {
    await page.goto(url);
    const icon = await page.evaluate(() => document.querySelector('link[rel="icon"]')?.getAttribute('href'));
    expect(icon, `an icon is linked at ${page.url()}`).toBeTruthy();
    const response = await page.request.get(new URL(icon!, page.url()).href);
    expect(response.status()).toBe(200);
    expect(response.headers()['content-type']).toMatch(/^image\/svg\+xml/);
  }
});
