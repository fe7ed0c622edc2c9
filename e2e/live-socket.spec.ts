import { expect, signInAtIdp, test } from './fixtures.ts';

test('a page holds a socket through Gatehouse in Chromium, and it closes when the user signs out in another tab', async ({
  page,
  context,
  gatehouse,
}) => {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(`${gatehouse.url}/live`);
  await signInAtIdp(page, 'alice');
  await expect(page).toHaveURL(`${gatehouse.url}/live`);
  await expect(page.locator('#socket-status')).toHaveText('open');

  // The demo API answers with the claims it read from the access token Gatehouse sent it.
  await page.locator('#socket-message').fill('hello from Chromium');
  await page.getByRole('button', { name: 'Send' }).click();
  const answer = page.locator('#socket-log li').first();
  await expect(answer).toContainText('"echo":"hello from Chromium"');
  await expect(answer).toContainText('"sub":"alice"');
  await expect(answer).toContainText('"renku"'); // the audience the API checked

  // Another tab of the same browser signs out.
  const other = await context.newPage();
  await other.goto(`${gatehouse.url}/`);
  await other.getByRole('button', { name: 'Sign out' }).click();
  await expect(other.locator('#signed-out')).toBeVisible();

  await expect(page.locator('#socket-status')).toHaveText(/^closed \(4401 (session_ended|grant_ended)\)$/);
  expect(errors.filter((e) => /Content Security Policy|Refused/.test(e))).toEqual([]);
});
