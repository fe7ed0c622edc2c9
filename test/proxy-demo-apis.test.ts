import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { SignJWT } from 'jose';
import { CookieBrowser, signIn, startGatehouse, TestClock, type TestGatehouse } from './helpers/harness.ts';

let gatehouse: TestGatehouse;
const clock = new TestClock();
const browser = new CookieBrowser();

before(async () => {
  gatehouse = await startGatehouse({}, { clock: clock.read });
  await signIn(gatehouse, browser);
});
after(() => gatehouse.stop());

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; json: any }> {
  const { response, body } = await browser.navigate(`${gatehouse.url}${path}`, {
    ...init,
    headers: { 'x-csrf': '1', ...(init.headers as Record<string, string>) },
  });
  return { status: response.status, json: JSON.parse(body) };
}

function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  return api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

test('without GATEHOUSE_APIS, development registers the demo APIs as renku and dataverse with their audiences', () => {
  assert.deepEqual(
    gatehouse.gh.upstreams.map((u) => [u.name, u.token, u.audience]),
    [
      ['renku', 'user', 'renku'],
      ['dataverse', 'user', 'dataverse'],
    ],
  );
});

test('a signed-in browser reads /api/renku/user and a Dataverse dataset with its title, authors and files through Gatehouse', async () => {
  const user = await api('/api/renku/user');
  assert.equal(user.status, 200);
  assert.deepEqual(user.json, {
    id: 'alice',
    username: 'alice',
    email: 'alice@example.org',
    first_name: 'Alice',
    last_name: 'Liddell',
    is_admin: false,
  });

  const dataset = await api('/api/dataverse/api/datasets/:persistentId/?persistentId=doi:10.5072/FK2/J8SJZB');
  assert.equal(dataset.status, 200);
  assert.equal(dataset.json.status, 'OK');
  const version = dataset.json.data.latestVersion;
  const fields = version.metadataBlocks.citation.fields;
  assert.equal(fields.find((x: any) => x.typeName === 'title').value, 'Soil moisture in alpine meadows, 2019–2022');
  assert.deepEqual(
    fields.find((x: any) => x.typeName === 'author').value.map((a: any) => a.authorName.value),
    ['Dupont, Claire', 'Meier, Jonas'],
  );
  assert.deepEqual(version.files.map((x: any) => [x.dataFile.filename, x.dataFile.contentType]).slice(0, 1), [
    ['soil_moisture_2019_2022.csv', 'text/csv'],
  ]);
  assert.ok(version.files.every((x: any) => x.dataFile.filesize > 0));

  const missing = await api('/api/dataverse/api/datasets/:persistentId/?persistentId=doi:10.5072/FK2/NOPE');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.status, 'ERROR');
});

test('the Dataverse-like search answers Dataverse-shaped results', async () => {
  const found = await api('/api/dataverse/api/search?q=wheat');
  assert.equal(found.status, 200);
  assert.equal(found.json.data.total_count, 1);
  assert.equal(found.json.data.items[0].global_id, 'doi:10.5072/FK2/QXW3RT');
  assert.equal(found.json.data.items[0].type, 'dataset');
  const all = await api('/api/dataverse/api/search?q=*');
  assert.ok(all.json.data.total_count >= 2);
  assert.equal((await api('/api/dataverse/api/search')).status, 400);
});

test('the demo Renku lists projects as renku-data-services does: a bare array of ULID projects, paged by headers', async () => {
  const first = await browser.navigate(`${gatehouse.url}/api/renku/projects?direct_member=true&per_page=100&page=1`, {
    headers: { 'x-csrf': '1' },
  });
  assert.equal(first.response.status, 200);
  assert.deepEqual(
    ['page', 'per-page', 'total', 'total-pages'].map((h) => first.response.headers.get(h)),
    ['1', '100', '103', '2'],
  );
  const page1 = JSON.parse(first.body);
  assert.ok(Array.isArray(page1));
  assert.equal(page1.length, 100);
  assert.match(page1[0].id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.deepEqual([page1[0].namespace, page1[0].slug, page1[0].name], ['alice', 'climate-models', 'Climate models']);
  const page2 = await api('/api/renku/projects?direct_member=true&per_page=100&page=2');
  assert.deepEqual(
    page2.json.map((p: any) => `${p.namespace}/${p.slug}`),
    ['alpine-lab/station-099', 'alpine-lab/station-100', 'bob/glacier-archive'],
  );
  const permissions = await api(`/api/renku/projects/${page2.json[2].id}/permissions`);
  assert.deepEqual(permissions.json, { write: false, delete: false, change_membership: false });
  const tooMany = await api('/api/renku/projects?per_page=101');
  assert.equal(tooMany.status, 422);
  assert.deepEqual(tooMany.json, { error: { code: 1422, message: "Parameter 'per_page' must be between 1 and 100" } });
});

test('the demo Renku creates a global DOI connector once (201, then 200), links it (201), refuses a second link (409) and a read-only project (404)', async () => {
  const [climate] = (await api('/api/renku/projects?direct_member=true&per_page=1')).json;
  const body = {
    storage: {
      configuration: { type: 'doi', doi: '10.5072/FK2/QXW3RT' },
      source_path: '/',
      target_path: '/',
      readonly: true,
    },
  };
  const created = await post('/api/renku/data_connectors/global', body);
  assert.equal(created.status, 201);
  assert.deepEqual(
    [created.json.doi, created.json.publisher_name, created.json.storage.readonly, created.json.visibility],
    ['10.5072/FK2/QXW3RT', 'Demo Dataverse', true, 'public'],
  );
  const again = await post('/api/renku/data_connectors/global', {
    ...body,
    storage: { ...body.storage, configuration: { type: 'doi', doi: 'doi:10.5072/fk2/qxw3rt' } },
  });
  assert.equal(again.status, 200);
  assert.equal(again.json.id, created.json.id);

  const linked = await post(`/api/renku/data_connectors/${created.json.id}/project_links`, { project_id: climate.id });
  assert.equal(linked.status, 201);
  assert.deepEqual([linked.json.data_connector_id, linked.json.project_id], [created.json.id, climate.id]);
  const links = await api(`/api/renku/projects/${climate.id}/data_connector_links`);
  assert.deepEqual(
    links.json.map((l: any) => l.id),
    [linked.json.id],
  );
  const duplicate = await post(`/api/renku/data_connectors/${created.json.id}/project_links`, {
    project_id: climate.id,
  });
  assert.equal(duplicate.status, 409);
  assert.equal(duplicate.json.error.code, 1409);

  const archive = (await api('/api/renku/projects?direct_member=true&per_page=100&page=2')).json.at(-1);
  const readOnly = await post(`/api/renku/data_connectors/${created.json.id}/project_links`, {
    project_id: archive.id,
  });
  assert.equal(readOnly.status, 404);
  assert.match(readOnly.json.error.message, /cannot perform operation write on project/);
});

test('the demo Renku refuses what Renku cannot link with 422 and its reason', async () => {
  const cases: Array<[unknown, string]> = [
    [
      { storage: { configuration: { type: 'doi' }, source_path: '/', target_path: '/' } },
      'Cannot find the doi in the storage configuration',
    ],
    [
      { storage: { configuration: { type: 'doi', doi: '10.5072/FK2/NOSUCH' }, source_path: '/', target_path: '/' } },
      'The provided DOI is not supported.',
    ],
    [
      {
        storage: {
          configuration: { type: 'doi', doi: '10.5072/FK2/J8SJZB' },
          source_path: '/',
          target_path: '/',
          readonly: false,
        },
      },
      'Global data connectors must be read-only',
    ],
    [
      { storage: { configuration: { type: 'doi', doi: '10.5072/FK2/FAIL' }, source_path: '/', target_path: '/' } },
      'The provided storage configuration is not currently working',
    ],
  ];
  for (const [body, message] of cases) {
    const answer = await post('/api/renku/data_connectors/global', body);
    assert.equal(answer.status, 422, message);
    assert.equal(answer.json.error.code, 1422);
    assert.equal(answer.json.error.message, message);
  }
  const broken = await api('/api/renku/data_connectors/global', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{not json',
  });
  assert.equal(broken.status, 422);
});

test('the demo APIs verify the JWT they receive: none, a foreign signature or another audience get 401 invalid_token', async () => {
  const { renkuUrl, dataverseUrl } = gatehouse.gh.demoApis!;
  const none = await fetch(`${renkuUrl}/user`);
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);

  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const forged = await new SignJWT({ sub: 'alice', aud: ['renku'] })
    .setProtectedHeader({ alg: 'RS256', kid: 'dev-idp-rs256' })
    .setIssuer(gatehouse.issuer)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
  const forgedAnswer = await fetch(`${renkuUrl}/user`, { headers: { authorization: `Bearer ${forged}` } });
  assert.equal(forgedAnswer.status, 401);
  assert.equal(((await forgedAnswer.json()) as any).error.code, 1401);

  // A real token of this IdP, but for the stats resource: wrong audience for both APIs.
  const stats = await gatehouse.gh.deps.idp.clientCredentialsGrant({ resource: 'urn:gatehouse:stats' });
  for (const url of [`${renkuUrl}/user`, `${dataverseUrl}/api/search?q=*`]) {
    const answer = await fetch(url, { headers: { authorization: `Bearer ${stats.accessToken}` } });
    assert.equal(answer.status, 401, url);
    assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token".*aud/);
  }
  const good = await gatehouse.gh.deps.idp.clientCredentialsGrant({});
  assert.equal(
    (await fetch(`${dataverseUrl}/api/search?q=*`, { headers: { authorization: `Bearer ${good.accessToken}` } }))
      .status,
    200,
  );
});

test('the demo Renku treats a token without the renku audience as anonymous: 200 [] for projects, 401 for a POST', async () => {
  const { renkuUrl } = gatehouse.gh.demoApis!;
  const stats = await gatehouse.gh.deps.idp.clientCredentialsGrant({ resource: 'urn:gatehouse:stats' });
  const headers = { authorization: `Bearer ${stats.accessToken}` };
  const listed = await fetch(`${renkuUrl}/projects?direct_member=true&per_page=100&page=1`, { headers });
  assert.equal(listed.status, 200);
  assert.deepEqual(await listed.json(), []);
  assert.deepEqual(
    ['total', 'total-pages'].map((h) => listed.headers.get(h)),
    ['0', '0'],
  );
  const posted = await fetch(`${renkuUrl}/data_connectors/global`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({
      storage: { configuration: { type: 'doi', doi: '10.5072/FK2/J8SJZB' }, source_path: '/', target_path: '/' },
    }),
  });
  assert.equal(posted.status, 401);
  assert.deepEqual(
    ((await posted.json()) as any).error.message,
    'You have to be authenticated to perform this operation.',
  );
});
