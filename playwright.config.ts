import { defineConfig } from '@playwright/test';

/**
 * End-to-end tests in Debian's Chromium (`apt-get install chromium`); Playwright's own browser
 * downloads are not needed. Each test file starts its own Gatehouse and embedded IdP.
 */
export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  timeout: 60_000,
  // The connector page waits on Renku through Gatehouse's proxy, which gives the demo APIs up to
  // 10 s (their timeoutMs) before answering 504: an assertion must outwait that, not give up at
  // the default 5 s while the page is still rightly waiting (a real DOI check takes seconds).
  expect: { timeout: 15_000 },
  workers: 1,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
    trace: 'off',
  },
});
