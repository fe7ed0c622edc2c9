import { startGatehouse } from '../test/helpers/harness.ts';
import { boundServer } from '../test/helpers/ports.ts';
import { expect, signInAtIdp, test } from './fixtures.ts';

const guid = /^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$/;

test('alice signs in through the SOAP external login, sees the workspace, signs out at the IdP, and must sign in there again', async ({
  page,
  gatehouse,
}) => {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });

  await page.goto(`${gatehouse.url}/`);
  await page.getByRole('link', { name: 'Sign in with external login' }).click();
  await expect(page).toHaveURL(new RegExp(`^${gatehouse.issuer}/interaction/`));
  const contextCookie = (await page.context().cookies(`${gatehouse.url}/external/callback`)).find(
    (c) => c.name === 'ContextID',
  );
  expect(contextCookie?.httpOnly).toBe(true);
  expect(contextCookie?.path).toBe('/external');
  await signInAtIdp(page, 'alice');

  await expect(page).toHaveURL(`${gatehouse.url}/`);
  await expect(page.locator('#user-via')).toHaveText('via external login');
  await expect(page.locator('#user-name')).toHaveText('Alice Liddell');
  await expect(page.locator('#user-workspace')).toHaveText(guid);
  expect(
    (await page.context().cookies(`${gatehouse.url}/external/callback`)).find((c) => c.name === 'ContextID'),
  ).toBeUndefined();

  // The form posts to Gatehouse, which calls SOAP Logout and redirects to the IdP's sign-out.
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`^${gatehouse.url}/(\\?.*)?$`));
  await expect(page.getByRole('link', { name: 'Sign in with external login' })).toBeVisible();
  expect((await page.request.get(`${gatehouse.url}/auth/user`)).status()).toBe(401);

  // The IdP session ended: the external login asks for credentials again.
  await page.getByRole('link', { name: 'Sign in with external login' }).click();
  await expect(page).toHaveURL(new RegExp(`^${gatehouse.issuer}/interaction/`));
  await expect(page.getByLabel('Password')).toBeVisible();
  expect(errors.filter((e) => /Content Security Policy|Refused/.test(e))).toEqual([]);
});

test("against another LiveScore server, sign-out reaches that server's IdP although the form's CSP does not list it", async ({
  page,
}) => {
  const { server, url } = await boundServer();
  const livescore = await startGatehouse({ GATEHOUSE_SOAP_REDIRECT_URIS: `${url}/external/callback` });
  const gatehouse = await startGatehouse(
    { GATEHOUSE_PUBLIC_URL: url, GATEHOUSE_SOAP_URL: `${livescore.url}/Session` },
    { server },
  );
  try {
    await page.goto(`${gatehouse.url}/external/login`);
    await expect(page).toHaveURL(new RegExp(`^${livescore.issuer}/interaction/`));
    await signInAtIdp(page, 'alice');
    await expect(page).toHaveURL(`${gatehouse.url}/`);
    await expect(page.locator('#user-via')).toHaveText('via external login');
    await expect(page.locator('#user-workspace')).toHaveText(guid);

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    // Through /external/signed-out to the other IdP, which sends the browser back to its own
    // post-logout page (the other server's home).
    await expect(page).toHaveURL(new RegExp(`^${livescore.url}/(\\?.*)?$`));
    await page.goto(`${gatehouse.url}/external/login`);
    await expect(page).toHaveURL(new RegExp(`^${livescore.issuer}/interaction/`));
    await expect(page.getByLabel('Password')).toBeVisible();
  } finally {
    await gatehouse.stop();
    await livescore.stop();
  }
});
