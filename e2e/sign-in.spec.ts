import { expect, signInAtIdp, test } from './fixtures.ts';

test('alice signs in in a real browser, sees her profile, signs out, and the IdP session is over', async ({
  page,
  gatehouse,
}) => {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });

  // The sign-in page also offers the external (SOAP) login: pick the IdP's link by its host.
  const signInWithIdp = page.getByRole('link', { name: `Sign in with ${new URL(gatehouse.issuer).host}` });
  await page.goto(`${gatehouse.url}/`);
  await signInWithIdp.click();
  await expect(page).toHaveURL(new RegExp(`^${gatehouse.issuer}/interaction/`));
  await signInAtIdp(page, 'alice');

  await expect(page).toHaveURL(`${gatehouse.url}/`);
  await expect(page.locator('#user-name')).toHaveText('Alice Liddell');
  await expect(page.locator('#user-email')).toHaveText('alice@example.org');
  await expect(page.locator('#user-via')).toHaveText('via OpenID Connect');

  const cookies = await page.context().cookies(gatehouse.url);
  const session = cookies.find((c) => c.name === 'gatehouse');
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe('Lax');
  expect(await page.evaluate(() => document.cookie)).not.toContain('gatehouse=');

  // The form posts to Gatehouse, which redirects to the IdP: the CSP must allow that hop.
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  // Back from the IdP's end-session endpoint: a page that says so, and no ?state=… in the address bar.
  await expect(page).toHaveURL(`${gatehouse.url}/auth/signed-out`);
  await expect(page.locator('#signed-out')).toHaveText('You are signed out of Gatehouse in this browser.');
  await page.getByRole('link', { name: 'Sign in again' }).click();
  await expect(signInWithIdp).toBeVisible();
  const user = await page.request.get(`${gatehouse.url}/auth/user`);
  expect(user.status()).toBe(401);

  // The IdP session ended: signing in again asks for credentials.
  await signInWithIdp.click();
  await expect(page).toHaveURL(new RegExp(`^${gatehouse.issuer}/interaction/`));
  await expect(page.getByLabel('Password')).toBeVisible();
  expect(errors.filter((e) => /Content Security Policy|Refused/.test(e))).toEqual([]);
});

test('a wrong password stays at the IdP with a message, and Gatehouse keeps no session', async ({
  page,
  gatehouse,
}) => {
  await page.goto(`${gatehouse.url}/auth/login?returnTo=/`);
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill('not-her-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');
  const cookies = await page.context().cookies(gatehouse.url);
  expect(cookies.find((c) => c.name === 'gatehouse')).toBeUndefined();
});

test('two sign-ins started in two tabs of one browser both complete, each with its own sealed transaction cookie', async ({
  context,
  gatehouse,
}) => {
  const [first, second] = [await context.newPage(), await context.newPage()];
  // Both tabs are at the IdP before either signs in: two transactions pending at once.
  await Promise.all([
    first.goto(`${gatehouse.url}/auth/login?returnTo=${encodeURIComponent('/?tab=first')}`),
    second.goto(`${gatehouse.url}/auth/login?returnTo=${encodeURIComponent('/?tab=second')}`),
  ]);
  const transactions = (await context.cookies(gatehouse.url)).filter((c) => c.name.startsWith('gatehouse-login-'));
  expect(transactions).toHaveLength(2);
  for (const cookie of transactions) {
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Lax');
  }

  await signInAtIdp(second, 'alice');
  await expect(second).toHaveURL(`${gatehouse.url}/?tab=second`);
  await expect(second.locator('#user-name')).toHaveText('Alice Liddell');

  await signInAtIdp(first, 'alice');
  await expect(first).toHaveURL(`${gatehouse.url}/?tab=first`);
  await expect(first.locator('#user-name')).toHaveText('Alice Liddell');
  // Each callback took its own transaction: none is left.
  expect((await context.cookies(gatehouse.url)).filter((c) => c.name.startsWith('gatehouse-login-'))).toEqual([]);
});
