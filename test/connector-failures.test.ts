import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type ConnectorFixture, startConnectorFixture } from './helpers/connector-fixture.ts';
import { CookieBrowser, signIn } from './helpers/harness.ts';
import { freePort } from './helpers/ports.ts';
import { SwitchableUpstream } from './helpers/switchable-upstream.ts';

// How the connector page fails, with real failures: a token without the upstream's audience,
// an upstream that does not answer, one that goes down and comes back, a session the IdP ended.

const demoDoi = 'doi:10.5072/FK2/J8SJZB';
const minute = 60_000;

async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

describe('a misconfigured Gatehouse: Dataverse expects another audience, Renku never answers', () => {
  let f: ConnectorFixture;
  let silent: Server;
  before(async () => {
    // Accepts connections and never answers: Gatehouse's 300 ms upstream timeout decides.
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    f = await startConnectorFixture({
      upstreams: (demo) => [
        { name: 'dataverse', url: demo.dataverseUrl, token: 'user', audience: 'dataverse-prod' },
        { name: 'renku', url: silentUrl, token: 'user', audience: 'renku', timeoutMs: 300 },
      ],
    });
  });
  after(async () => {
    await f.stop();
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });

  test('a token without the Dataverse audience shows the proxy\'s audience_mismatch hint, with the request id, and no retry', async () => {
    const error = await rejection(f.modules.dataverse.fetchDataset(demoDoi));
    assert.equal(error.status, 403);
    assert.equal(error.code, 'audience_mismatch');
    const problem = f.modules.errors.describeError(error, { action: 'lookup', doi: demoDoi });
    assert.equal(problem.title, 'The access token is not meant for Dataverse');
    assert.match(problem.message, /audience lacks “dataverse-prod”/);
    assert.match(problem.next, /signing in again will not help/);
    assert.equal(problem.hint, error.body.hint);
    assert.match(problem.hint!, /Audience mapper for 'dataverse-prod' to client 'gatehouse'/);
    assert.equal(problem.reference, error.body.requestId);
    assert.equal(problem.action, 'none');
  });

  test('a Renku that does not answer in time is "Renku is unavailable" with a retry; for an import it says the import may have started', async () => {
    const listing = await rejection(f.modules.renku.listProjects());
    assert.equal(listing.status, 504);
    const problem = f.modules.errors.describeError(listing, { action: 'projects' });
    assert.equal(problem.title, 'Renku is unavailable');
    assert.match(problem.message, /did not answer in time \(HTTP 504\)/);
    assert.match(problem.next, /Nothing was changed\. Try again in a minute\./);
    assert.equal(problem.action, 'retry');

    const importing = await rejection(f.modules.renku.startImport('101', demoDoi));
    assert.equal(importing.status, 504);
    assert.match(f.modules.errors.describeError(importing, { action: 'import' }).next, /may have started the import.*look at the project's datasets/);
  });
});

describe('a Renku that goes down and comes back, and a session the IdP ends', () => {
  let f: ConnectorFixture;
  let renku: SwitchableUpstream;
  before(async () => {
    f = await startConnectorFixture({
      upstreams: async (demo) => {
        renku = await new SwitchableUpstream(demo.renkuUrl).start();
        return [
          { name: 'dataverse', url: demo.dataverseUrl, token: 'user', audience: 'dataverse' },
          { name: 'renku', url: renku.url, token: 'user', audience: 'renku' },
        ];
      },
    });
  });
  after(async () => {
    await f.stop();
    await renku.stop();
  });

  test('Renku going down is "Renku is unavailable (HTTP 502)" with a retry, and the retry works once it is back', async () => {
    renku.up = false;
    const error = await rejection(f.modules.renku.listProjects());
    assert.equal(error.status, 502);
    assert.equal(error.code, 'upstream_unreachable');
    const problem = f.modules.errors.describeError(error, { action: 'projects' });
    assert.equal(problem.title, 'Renku is unavailable');
    assert.match(problem.message, /Renku is not answering \(HTTP 502\)/);
    assert.equal(problem.action, 'retry');
    assert.equal(problem.reference, error.body.requestId);

    renku.up = true;
    assert.deepEqual((await f.modules.renku.listProjects()).map((p) => p.id), ['101', '102']);
  });

  test('an import keeps going while Renku is away: following it again sees it complete and listed', async () => {
    const jobId = await f.modules.renku.startImport('101', demoDoi);
    renku.up = false;
    const lost = await rejection(f.modules.renku.fetchJob(jobId));
    const problem = f.modules.errors.describeError(lost, { action: 'job' });
    assert.match(problem.next, /The import goes on at Renku; this page lost sight of it\. Try again in a minute\./);
    assert.equal(problem.action, 'retry');

    renku.up = true;
    const job = await f.modules.renku.followJob(jobId, { wait: async (ms) => f.clock.advance(ms) });
    assert.equal(job.state, 'completed');
    assert.deepEqual((await f.modules.renku.listProjectDatasets('101')).map((d) => d.doi), [demoDoi]);
  });

  test('session_expired is reported to the page without leaving it, offers "Sign in again", and signing in again returns with the form filled', async () => {
    const { grants, idp } = f.gatehouse.gh.deps;
    const [grantId] = await grants.idsBySub('alice');
    const grant = (await grants.get(grantId!))!;
    await idp.revoke(grants.tokens(grant).refreshToken!, 'refresh_token');
    f.clock.advance(10 * minute); // the access token is due for refresh, which the IdP now refuses

    const error = await rejection(f.modules.renku.listProjects());
    assert.ok(error instanceof f.modules.api.SignInRequired);
    assert.equal(error.code, 'session_expired');
    assert.deepEqual(f.page.navigations, [], 'the page stays where it is');
    const problem = f.modules.errors.describeError(error, { action: 'projects' });
    assert.equal(problem.title, 'Your session has ended');
    assert.match(problem.next, /Sign in again: you will come back to this page with your dataset and project filled in\./);
    assert.equal(problem.action, 'sign-in');

    // What "Sign in again" does: sign-in with the page's URL, form state in its query, as returnTo.
    const { formStateSearch, readFormState } = f.modules.state;
    const here = `/connector${formStateSearch({ q: demoDoi, project: '102' })}`;
    const back = await signIn(f.gatehouse, f.browser, 'alice', here);
    assert.equal(back.url, `${f.gatehouse.url}${here}`);
    assert.deepEqual(readFormState(new URL(back.url).search), { q: demoDoi, project: '102', job: '' });
    assert.deepEqual((await f.modules.renku.listProjects()).map((p) => p.id), ['101', '102']);
  });

  test('a page whose session is gone is told "You are signed out", also without leaving the page', async () => {
    f.page.browser = new CookieBrowser();
    try {
      const error = await rejection(f.modules.dataverse.searchDatasets('soil'));
      assert.equal(error.code, 'unauthenticated');
      assert.deepEqual(f.page.navigations, []);
      const problem = f.modules.errors.describeError(error, { action: 'search' });
      assert.equal(problem.title, 'You are signed out');
      assert.equal(problem.action, 'sign-in');
    } finally {
      f.page.browser = f.browser;
    }
  });

  test('a Gatehouse that cannot be reached is "Gatehouse is unreachable", with a retry', async () => {
    f.page.gatehouseUrl = `http://127.0.0.1:${await freePort()}`;
    try {
      const error = await rejection(f.modules.renku.listProjects());
      assert.equal(error.name, 'TypeError', 'fetch itself failed');
      const problem = f.modules.errors.describeError(error, { action: 'projects' });
      assert.equal(problem.title, 'Gatehouse is unreachable');
      assert.equal(problem.action, 'retry');
    } finally {
      f.page.gatehouseUrl = f.gatehouse.url;
    }
  });
});
