import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type ConnectorFixture, startConnectorFixture } from './helpers/connector-fixture.ts';
import { rejection } from './helpers/connector-page-context.ts';
import { CookieBrowser, signIn } from './helpers/harness.ts';
import { closedPort } from './helpers/ports.ts';
import { SwitchableUpstream } from './helpers/switchable-upstream.ts';

// How the connector page fails, with real failures: a token without the upstream's audience,
// an upstream that does not answer, one that goes down and comes back, a session the IdP ended,
// a Renku that treats the token as anonymous, a Dataverse that has no account for the user.

const demoDoi = 'doi:10.5072/FK2/J8SJZB';
const minute = 60_000;

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

  test("a token without the Dataverse audience shows the proxy's audience_mismatch hint, with the request id, and no retry", async () => {
    const error = await rejection(f.modules.dataverse.fetchDataset(demoDoi));
    assert.equal(error.status, 403);
    assert.equal(error.code, 'audience_mismatch');
    const problem = f.modules.errors.describeError(error, { action: 'lookup', doi: demoDoi });
    assert.equal(problem.title, 'The access token is not meant for Dataverse');
    assert.match(problem.message, /audience lacks “dataverse-prod”/);
    assert.match(problem.next, /signing in again will not help/);
    assert.equal(problem.hint, error.body.hint);
    assert.match(problem.hint!, /Audience mapper for 'dataverse-prod' to client 'gatehouse'/);
    assert.equal(typeof error.body.requestId, 'string', 'the proxy names the request');
    assert.notEqual(error.body.requestId, '');
    assert.equal(problem.reference, error.body.requestId);
    assert.equal(problem.action, 'none');
  });

  test('a Renku that does not answer in time is "Renku is unavailable" with a retry; for a link it says the link may have been made', async () => {
    const listing = await rejection(f.modules.renku.listProjects());
    assert.equal(listing.status, 504);
    const problem = f.modules.errors.describeError(listing, { action: 'projects' });
    assert.equal(problem.title, 'Renku is unavailable');
    assert.match(problem.message, /did not answer in time \(HTTP 504\)/);
    assert.match(problem.next, /Nothing was changed\. Try again in a minute\./);
    assert.equal(problem.action, 'retry');

    const linking = await rejection(f.modules.renku.linkDataset('01HQZ8Y6G00000000000000001', demoDoi));
    assert.equal(linking.status, 504);
    assert.match(
      f.modules.errors.describeError(linking, { action: 'link' }).next,
      /may have linked the dataset before its answer was lost: look at the project's data connectors/,
    );
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
          { name: 'renku', url: `${renku.url}/api/data`, token: 'user', audience: 'renku' },
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
    assert.equal(typeof error.body.requestId, 'string', 'the proxy names the request');
    assert.notEqual(error.body.requestId, '');
    assert.equal(problem.reference, error.body.requestId);

    renku.up = true;
    assert.equal((await f.modules.renku.listProjects()).length, 103);
  });

  test('a link asked for while Renku is down links nothing and says so; trying again once it is back links it', async () => {
    const [climate] = await f.modules.renku.listProjects();
    renku.up = false;
    const lost = await rejection(f.modules.renku.linkDataset(climate!.id, demoDoi));
    assert.equal(lost.status, 502);
    const problem = f.modules.errors.describeError(lost, { action: 'link', doi: demoDoi });
    assert.equal(problem.title, 'Renku is unavailable');
    assert.match(problem.next, /Nothing was linked\. Try again in a minute\./);
    assert.equal(problem.action, 'retry');

    renku.up = true;
    assert.deepEqual(await f.modules.renku.listProjectConnectors(climate!.id), []);
    const linked = await f.modules.renku.linkDataset(climate!.id, demoDoi);
    assert.deepEqual([linked.created, linked.alreadyLinked], [true, false]);
    assert.equal((await f.modules.renku.listProjectConnectors(climate!.id)).length, 1);
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
    assert.match(
      problem.next,
      /Sign in again: you will come back to this page with your dataset and project filled in\./,
    );
    assert.equal(problem.action, 'sign-in');

    // What "Sign in again" does: sign-in with the page's URL, form state in its query, as returnTo.
    const { formStateSearch, readFormState } = f.modules.state;
    const project = '01HQZ8Y6G00000000000000002';
    const here = `/connector${formStateSearch({ q: demoDoi, project })}`;
    const back = await signIn(f.gatehouse, f.browser, 'alice', here);
    assert.equal(back.url, `${f.gatehouse.url}${here}`);
    assert.deepEqual(readFormState(new URL(back.url).search), { q: demoDoi, project });
    assert.equal((await f.modules.renku.listProjects()).length, 103);
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
    f.page.gatehouseUrl = `http://127.0.0.1:${closedPort}`;
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

describe('silent anonymity: the IdP gives Gatehouse a token without the renku audience, and no audience is declared to check it', () => {
  let f: ConnectorFixture;
  before(async () => {
    f = await startConnectorFixture({
      upstreams: (demo) => [
        { name: 'dataverse', url: demo.dataverseUrl, token: 'user', audience: 'dataverse' },
        // A token for another resource: Renku's data service validates it, fails, and treats the caller as anonymous.
        { name: 'renku', url: demo.renkuUrl, token: 'user', resource: 'urn:gatehouse:stats' },
      ],
    });
  });
  after(() => f.stop());

  test('Renku answers an empty project list, and the page says "no projects" with the audience hint', async () => {
    assert.deepEqual(await f.modules.renku.listProjects(), []);
    const problem = f.modules.errors.describeNoProjects();
    assert.equal(problem.title, 'No Renku projects');
    assert.equal(
      problem.hint,
      "no projects — if you have some, the IdP may not add the `renku` audience to Gatehouse's tokens",
    );
    assert.equal(problem.action, 'none');
  });

  test("a link is refused with Renku's 401 for anonymous callers, said with the same audience hint", async () => {
    const error = await rejection(f.modules.renku.linkDataset('01HQZ8Y6G00000000000000001', demoDoi));
    assert.ok(!(error instanceof f.modules.api.SignInRequired), "an upstream 401 is not Gatehouse's sign-in");
    assert.equal(error.status, 401);
    assert.equal(error.body.error.code, 1401);
    const problem = f.modules.errors.describeError(error, { action: 'link', doi: demoDoi });
    assert.equal(problem.title, 'Renku did not accept the access token');
    assert.match(problem.message, /You have to be authenticated to perform this operation\./);
    assert.match(problem.hint!, /the IdP may not add the `renku` audience to Gatehouse's tokens/);
  });
});

describe('a Dataverse declared with "token": "user" and no audience, where alice has no Dataverse account', () => {
  let f: ConnectorFixture;
  before(async () => {
    f = await startConnectorFixture({
      dataverseAccounts: ['bob'],
      upstreams: (demo) => [
        // Dataverse checks bearer tokens at the IdP's UserInfo, with no audience: none is declared.
        { name: 'dataverse', url: demo.dataverseUrl, token: 'user' },
        { name: 'renku', url: demo.renkuUrl, token: 'user', audience: 'renku' },
      ],
    });
  });
  after(() => f.stop());

  test('the registry accepts it, the token is sent, and Dataverse\'s 403 for an unlinked account becomes "register in Dataverse first"', async () => {
    assert.equal(f.gatehouse.gh.upstreams.find((u) => u.name === 'dataverse')!.audience, undefined);
    const error = await rejection(f.modules.dataverse.fetchDataset(demoDoi));
    assert.equal(error.status, 403);
    const problem = f.modules.errors.describeError(error, { action: 'lookup', doi: demoDoi });
    assert.equal(problem.title, 'No Dataverse account yet');
    assert.match(problem.message, /no linked user account/);
    assert.match(problem.hint!, /Register your account in Dataverse first/);
    assert.equal(problem.action, 'retry');
    const searching = await rejection(f.modules.dataverse.searchDatasets('soil'));
    assert.equal(
      f.modules.errors.describeError(searching, { action: 'search', query: 'soil' }).title,
      'No Dataverse account yet',
    );
  });
});
