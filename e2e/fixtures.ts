import { test as base, expect, type Page } from '@playwright/test';
import { devUsers } from '../server/dev/dev-idp.ts';
import { startGatehouse, type TestGatehouse } from '../test/helpers/harness.ts';

/** Playwright's test with a Gatehouse (and its embedded IdP) per worker. */
export const test = base.extend<object, { gatehouse: TestGatehouse }>({
  gatehouse: [
    async ({}, use) => {
      const gatehouse = await startGatehouse();
      await use(gatehouse);
      await gatehouse.stop();
    },
    { scope: 'worker' },
  ],
});

/** Fills the embedded IdP's login form, as a person would. */
export async function signInAtIdp(page: Page, username = 'alice'): Promise<void> {
  const user = devUsers.find((u) => u.username === username)!;
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export { expect };
