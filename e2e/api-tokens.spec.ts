import { expect, signInAtIdp, test } from './fixtures.ts';

test('alice creates an API token on /tokens, copies it, a script uses it, and she revokes it', async ({
  page,
  gatehouse,
  context,
}) => {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`script: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) errors.push(`${response.status()} ${response.url()}`);
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gatehouse.url });

  await page.goto(`${gatehouse.url}/tokens`);
  await signInAtIdp(page, 'alice');
  await expect(page).toHaveURL(`${gatehouse.url}/tokens`);
  await expect(page.locator('#no-tokens')).toBeVisible();

  await page.getByLabel('Name').fill('notebook on my laptop');
  await page.getByLabel('renku').check();
  await page.getByRole('button', { name: 'Create token' }).click();
  // Through the IdP for the token's own grant (silent: the IdP session is alive) and back.
  await expect(page.getByRole('heading', { name: 'Token created' })).toBeVisible();
  const secret = await page.locator('#token-secret').inputValue();
  expect(secret).toMatch(/^gh_[A-Za-z0-9_-]{43,}$/);
  await expect(page.locator('#snippet-curl')).toContainText(`${gatehouse.url}/api/renku/`);
  await expect(page.locator('#snippet-python')).toContainText('Authorization');
  await expect(page.locator('#snippet-r')).toContainText('req_auth_bearer_token');
  await page.getByRole('button', { name: 'Copy' }).click();
  await expect(page.locator('#copy-status')).toHaveText('Copied.');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);

  // A script (no cookie, no X-CSRF) uses it.
  const used = await fetch(`${gatehouse.url}/api/renku/user`, { headers: { authorization: `Bearer ${secret}` } });
  expect(used.status).toBe(200);
  expect(((await used.json()) as { username: string }).username).toBe('alice');

  await page.getByRole('link', { name: 'Done' }).click();
  const row = page.locator('li.token', { hasText: 'notebook on my laptop' });
  await expect(row).toBeVisible();
  await expect(row.locator('.token-upstreams')).toHaveText('renku');
  await expect(page.locator('body')).not.toContainText(secret);
  await page.goto(`${gatehouse.url}/`);
  await expect(page.getByRole('link', { name: 'API tokens (1)' })).toBeVisible();
  await page.getByRole('link', { name: 'API tokens (1)' }).click();

  await page.locator('li.token', { hasText: 'notebook on my laptop' }).getByRole('button', { name: 'Revoke' }).click();
  await expect(page.locator('#no-tokens')).toBeVisible();
  const revoked = await fetch(`${gatehouse.url}/api/renku/user`, { headers: { authorization: `Bearer ${secret}` } });
  expect(revoked.status).toBe(401);
  expect(errors).toEqual([]);
});

test('bob approves a device code on /device and the polling script gets its token', async ({ page, gatehouse }) => {
  const start = (await (
    await fetch(`${gatehouse.url}/auth/device/code`, {
      method: 'POST',
      body: new URLSearchParams({ client_name: 'hardpy-cli', token_name: 'test bench' }),
    })
  ).json()) as { device_code: string; user_code: string; verification_uri: string };
  const poll = async () =>
    (
      await fetch(`${gatehouse.url}/auth/device/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
          device_code: start.device_code,
        }),
      })
    ).json() as Promise<{ error?: string; access_token?: string }>;
  expect((await poll()).error).toBe('authorization_pending');

  await page.goto(start.verification_uri);
  await signInAtIdp(page, 'bob');
  await expect(page).toHaveURL(`${gatehouse.url}/device`);
  await page.getByLabel('Code').fill(start.user_code.toLowerCase());
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.locator('#device-client')).toContainText('calls itself “hardpy-cli”');
  await expect(page.locator('#device-approve-form')).toContainText('test bench');
  // Read-only is preselected, whatever the program asked for.
  await expect(page.getByLabel('Read-only (GET and HEAD only)')).toBeChecked();
  await page.getByRole('button', { name: 'Approve' }).click();
  await expect(page.locator('#device-approved')).toContainText('You may close this page');

  // Once approved, the next poll gets the token at once: the interval only paces pending polls.
  const granted = await poll();
  expect(granted.access_token).toMatch(/^gh_/);
  const me = await fetch(`${gatehouse.url}/auth/user`, {
    headers: { authorization: `Bearer ${granted.access_token}` },
  });
  expect(((await me.json()) as { sub: string }).sub).toBe('bob');
});

test('reloading "Token created" shows no error and makes no second token; the address is the token\'s own page', async ({
  page,
  gatehouse,
}) => {
  const failures: string[] = [];
  page.on('response', (response) => {
    if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`);
  });
  await page.goto(`${gatehouse.url}/tokens`);
  await signInAtIdp(page, 'bob');
  await expect(page).toHaveURL(`${gatehouse.url}/tokens`);
  const before = await page.locator('li.token').count();

  await page.getByLabel('Name').fill('reload me');
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByRole('heading', { name: 'Token created' })).toBeVisible();
  await expect(page).toHaveURL(new RegExp(`^${gatehouse.url}/tokens/[\\w-]{16}/created$`));
  const secret = await page.locator('#token-secret').inputValue();

  await page.reload();
  await expect(page.getByRole('heading', { name: 'Token already shown' })).toBeVisible();
  await expect(page.locator('#token-shown-once')).toContainText('was shown once');
  await expect(page.locator('body')).not.toContainText(secret);
  await expect(page.locator('body')).not.toContainText('unknown_state');

  await page.locator('#token-shown-once').getByRole('link', { name: '/tokens' }).click();
  await expect(page.locator('li.token', { hasText: 'reload me' })).toHaveCount(1);
  await expect(page.locator('li.token')).toHaveCount(before + 1);
  expect(failures).toEqual([]);
});
