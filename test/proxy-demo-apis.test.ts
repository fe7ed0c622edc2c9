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
  const { response, body } = await browser.navigate(`${gatehouse.url}${path}`, { ...init, headers: { 'x-csrf': '1', ...(init.headers as Record<string, string>) } });
  return { status: response.status, json: JSON.parse(body) };
}

function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  return api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

test('without GATEHOUSE_APIS, development registers the demo APIs as renku and dataverse with their audiences', () => {
  assert.deepEqual(gatehouse.gh.upstreams.map((u) => [u.name, u.token, u.audience]), [['renku', 'user', 'renku'], ['dataverse', 'user', 'dataverse']]);
});

test('a signed-in browser reads /api/renku/user and a Dataverse dataset with its title, authors and files through Gatehouse', async () => {
  const user = await api('/api/renku/user');
  assert.equal(user.status, 200);
  assert.deepEqual(user.json.result, { id: 'alice', username: 'alice', name: 'Alice Liddell', email: 'alice@example.org' });

  const dataset = await api('/api/dataverse/api/datasets/:persistentId/?persistentId=doi:10.5072/FK2/J8SJZB');
  assert.equal(dataset.status, 200);
  assert.equal(dataset.json.status, 'OK');
  const version = dataset.json.data.latestVersion;
  const fields = version.metadataBlocks.citation.fields;
  assert.equal(fields.find((x: any) => x.typeName === 'title').value, 'Soil moisture in alpine meadows, 2019–2022');
  assert.deepEqual(fields.find((x: any) => x.typeName === 'author').value.map((a: any) => a.authorName.value), ['Dupont, Claire', 'Meier, Jonas']);
  assert.deepEqual(version.files.map((x: any) => [x.dataFile.filename, x.dataFile.contentType]).slice(0, 1), [['soil_moisture_2019_2022.csv', 'text/csv']]);
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

test('a dataset import job moves from pending through running to completed, and the dataset then appears in the project', async () => {
  const projects = await api('/api/renku/projects');
  assert.deepEqual(projects.json.result.projects.map((p: any) => p.id), ['101', '102']);

  const started = await post('/api/renku/datasets.import', { project_id: '101', dataset_uri: 'https://doi.org/10.5072/FK2/J8SJZB' });
  assert.equal(started.status, 200);
  const { job_id: jobId, created_at: createdAt } = started.json.result;
  assert.match(jobId, /^[0-9a-f-]{36}$/);
  assert.ok(Date.parse(createdAt));

  const states: string[] = [];
  for (const step of [0, 500, 1500]) {
    clock.advance(step);
    states.push((await api(`/api/renku/jobs/${jobId}`)).json.result.state);
  }
  assert.deepEqual(states, ['pending', 'running', 'completed']);

  const datasets = await api('/api/renku/projects/101/datasets');
  assert.deepEqual(datasets.json.result.datasets.map((d: any) => d.doi), ['doi:10.5072/FK2/J8SJZB']);
  assert.equal(datasets.json.result.datasets[0].files.length, 3);
});

test('importing the DOI designed to fail ends in a failed job with a code and a userMessage', async () => {
  const started = await post('/api/renku/datasets.import', { project_id: 102, dataset_uri: 'doi:10.5072/FK2/FAIL' });
  clock.advance(2000);
  const job = (await api(`/api/renku/jobs/${started.json.result.job_id}`)).json.result;
  assert.equal(job.state, 'failed');
  assert.equal(job.error.code, 'import_failed');
  assert.ok(job.error.userMessage.length > 10);
  assert.deepEqual((await api('/api/renku/projects/102/datasets')).json.result.datasets, []);
});

test('Renku-like errors are { error: { code, userMessage } } with a fitting status', async () => {
  const cases: Array<[unknown, number, string]> = [
    [{ project_id: '101' }, 400, 'invalid_dataset_uri'],
    [{ dataset_uri: 'doi:10.5072/FK2/J8SJZB' }, 400, 'invalid_request'],
    [{ project_id: '201', dataset_uri: 'doi:10.5072/FK2/J8SJZB' }, 404, 'project_not_found'], // bob's project
  ];
  for (const [body, status, code] of cases) {
    const answer = await post('/api/renku/datasets.import', body);
    assert.equal(answer.status, status, code);
    assert.equal(answer.json.error.code, code);
    assert.equal(typeof answer.json.error.userMessage, 'string');
  }
  const broken = await api('/api/renku/datasets.import', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
  assert.equal(broken.status, 400);
  assert.equal(broken.json.error.code, 'invalid_request');
  assert.equal((await api('/api/renku/jobs/unknown')).json.error.code, 'job_not_found');
});

test('the demo APIs verify the JWT they receive: none, a foreign signature or another audience get 401 invalid_token', async () => {
  const { renkuUrl, dataverseUrl } = gatehouse.gh.demoApis!;
  const none = await fetch(`${renkuUrl}/user`);
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);

  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const forged = await new SignJWT({ sub: 'alice', aud: ['renku'] }).setProtectedHeader({ alg: 'RS256', kid: 'dev-idp-rs256' })
    .setIssuer(gatehouse.issuer).setIssuedAt().setExpirationTime('5m').sign(key);
  const forgedAnswer = await fetch(`${renkuUrl}/user`, { headers: { authorization: `Bearer ${forged}` } });
  assert.equal(forgedAnswer.status, 401);
  assert.equal((await forgedAnswer.json() as any).error.code, 'invalid_token');

  // A real token of this IdP, but for the stats resource: wrong audience for both APIs.
  const stats = await gatehouse.gh.deps.idp.clientCredentialsGrant({ resource: 'urn:gatehouse:stats' });
  for (const url of [`${renkuUrl}/user`, `${dataverseUrl}/api/search?q=*`]) {
    const answer = await fetch(url, { headers: { authorization: `Bearer ${stats.accessToken}` } });
    assert.equal(answer.status, 401, url);
    assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token".*aud/);
  }
  const good = await gatehouse.gh.deps.idp.clientCredentialsGrant({});
  assert.equal((await fetch(`${dataverseUrl}/api/search?q=*`, { headers: { authorization: `Bearer ${good.accessToken}` } })).status, 200);
});
