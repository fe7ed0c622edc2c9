import { expect, signInAtIdp, test } from './fixtures.ts';

// A phone-sized window (390 px, an iPhone 12-15): fields wide enough to type in, names unbroken.
test.use({ viewport: { width: 390, height: 844 } });

test('at 390 px the token name field takes the line, and dataset file names do not break mid-word', async ({
  page,
  gatehouse,
}) => {
  await page.goto(`${gatehouse.url}/tokens`);
  await signInAtIdp(page, 'alice');
  await expect(page).toHaveURL(`${gatehouse.url}/tokens`);
  const field = await page.getByLabel('Name').boundingBox();
  expect(field!.width).toBeGreaterThan(300);

  await page.goto(`${gatehouse.url}/connector?q=${encodeURIComponent('doi:10.5072/FK2/J8SJZB')}`);
  const names = page.locator('#dataset-files tbody td:first-child');
  await expect(names.first()).toBeVisible();
  // One line box per name: its text was not wrapped inside a word.
  const lines = await names.evaluateAll((cells) =>
    cells.map((cell) => {
      const range = document.createRange();
      range.selectNodeContents(cell);
      return {
        name: cell.textContent,
        lines: new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size,
      };
    }),
  );
  expect(lines.length).toBeGreaterThan(0);
  for (const { name, lines: count } of lines) expect(count, String(name)).toBe(1);
  // Still a table to assistive technology, with nothing wider than the window.
  await expect(page.getByRole('cell', { name: 'soil_moisture_2019_2022.csv' })).toBeVisible();
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
});
