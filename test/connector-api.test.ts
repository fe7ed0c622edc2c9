import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ConnectorFixture, startConnectorFixture } from './helpers/connector-fixture.ts';
import type { PageJob } from './helpers/connector-page-context.ts';

// The connector page's own browser modules (public/js) run here against a real Gatehouse, its
// embedded IdP and the demo Renku-like and Dataverse-like APIs, as `npm start` wires them.
// Import jobs move on the injected clock, so every state is seen without waiting.

let f: ConnectorFixture;
before(async () => {
  f = await startConnectorFixture();
});
after(() => f.stop());

const demoDoi = 'doi:10.5072/FK2/J8SJZB';

/** Follows a job as the page does, moving the clock instead of sleeping; returns the states seen. */
async function follow(jobId: string): Promise<{ job: PageJob; states: string[] }> {
  const states: string[] = [];
  const job = await f.modules.renku.followJob(jobId, {
    onUpdate: (update) => {
      if (states.at(-1) !== update.state) states.push(update.state);
    },
    wait: async (ms) => f.clock.advance(ms),
  });
  return { job, states };
}

async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

test('the demo dataset is found by DOI, DOI link and Dataverse dataset link, with its title, authors and files', async () => {
  const { parseDatasetReference } = f.modules.reference;
  const inputs = [
    demoDoi,
    '10.5072/FK2/J8SJZB',
    'https://doi.org/10.5072/FK2/J8SJZB',
    'https://demo.dataverse.org/dataset.xhtml?persistentId=doi:10.5072/FK2/J8SJZB&version=1.0',
  ];
  for (const input of inputs) {
    const reference = parseDatasetReference(input);
    assert.equal(reference.kind, 'doi', input);
    const dataset = await f.modules.dataverse.fetchDataset((reference as { doi: string }).doi);
    assert.equal(dataset.doi, demoDoi, input);
    assert.equal(dataset.title, 'Soil moisture in alpine meadows, 2019–2022');
    assert.deepEqual(dataset.authors, [{ name: 'Dupont, Claire', affiliation: 'INRAE' }, { name: 'Meier, Jonas', affiliation: 'ETH Zürich' }]);
    assert.deepEqual(dataset.files, [
      { name: 'soil_moisture_2019_2022.csv', size: 1_843_221, contentType: 'text/csv' },
      { name: 'station_locations.geojson', size: 88_310, contentType: 'application/geo+json' },
      { name: 'README.md', size: 4_120, contentType: 'text/markdown' },
    ]);
  }
  const call = f.page.calls.at(-1)!;
  assert.equal(call.path, '/api/dataverse/api/datasets/:persistentId/?persistentId=doi%3A10.5072%2FFK2%2FJ8SJZB');
  assert.equal(call.headers.get('x-csrf'), '1');
});

test('an unknown DOI is "Dataset not found", naming the DOI and suggesting a keyword search', async () => {
  const doi = 'doi:10.5072/FK2/NOSUCH';
  const error = await rejection(f.modules.dataverse.fetchDataset(doi));
  assert.equal(error.status, 404);
  const problem = f.modules.errors.describeError(error, { action: 'lookup', doi });
  assert.equal(problem.title, 'Dataset not found');
  assert.match(problem.message, /no dataset with the DOI doi:10\.5072\/FK2\/NOSUCH/);
  assert.match(problem.next, /search by keywords/);
  assert.equal(problem.action, 'none');
});

test('a malformed DOI is refused in the page with a plain message before any call', async () => {
  const before = f.page.calls.length;
  for (const input of ['doi:10.5072', 'doi:10.12/short-registrant', 'https://doi.org/11.5072/x', 'doi:10.5072/FK2 J8SJZB']) {
    const reference = f.modules.reference.parseDatasetReference(input);
    assert.equal(reference.kind, 'invalid', input);
    const problem = f.modules.errors.describeInvalidReference(reference as { kind: 'invalid'; reason: string; input: string });
    assert.equal(problem.title, 'Not a valid DOI', input);
    assert.ok(problem.message.includes(input), input);
    assert.match(problem.next, /doi:10\.5072\/FK2\/J8SJZB/);
  }
  assert.equal(f.page.calls.length, before);
});

test('a keyword search lists the matching datasets with DOI, authors and date; no match lists none', async () => {
  const found = await f.modules.dataverse.searchDatasets('soil moisture');
  assert.equal(found.total, 1);
  assert.deepEqual(found.items, [{ doi: demoDoi, title: 'Soil moisture in alpine meadows, 2019–2022', authors: ['Dupont, Claire', 'Meier, Jonas'], published: '2023-03-14' }]);
  assert.equal(f.page.calls.at(-1)!.path, '/api/dataverse/api/search?q=soil%20moisture&type=dataset&per_page=10');
  assert.deepEqual(await f.modules.dataverse.searchDatasets('no such words anywhere'), { total: 0, items: [] });
});

test('the project list holds only the signed-in user\'s Renku projects', async () => {
  const projects = await f.modules.renku.listProjects();
  assert.deepEqual(projects.map((p) => [p.id, `${p.namespace}/${p.name}`]), [['101', 'alice/climate-models'], ['102', 'alice/soil-survey']]);
});

test('an import is followed from pending through running to completed, and the dataset is then listed in the project', async () => {
  assert.deepEqual(await f.modules.renku.listProjectDatasets('101'), []);
  const jobId = await f.modules.renku.startImport('101', demoDoi);
  const importCall = f.page.calls.at(-1)!;
  assert.equal(importCall.method, 'POST');
  assert.equal(importCall.path, '/api/renku/datasets.import');
  assert.equal(importCall.headers.get('x-csrf'), '1');

  const { job, states } = await follow(jobId);
  assert.deepEqual(states, ['pending', 'running', 'completed']);
  assert.equal(job.projectId, '101');
  const listed = await f.modules.renku.listProjectDatasets('101');
  assert.deepEqual(listed.map((d) => [d.doi, d.title]), [[demoDoi, 'Soil moisture in alpine meadows, 2019–2022']]);
});

test('the import designed to fail ends failed with Renku\'s reason, adds nothing, and can be started again', async () => {
  const failing = 'doi:10.5072/FK2/FAIL';
  const first = await follow(await f.modules.renku.startImport('102', failing));
  assert.deepEqual(first.states, ['pending', 'running', 'failed']);
  assert.equal(first.job.error?.code, 'import_failed');
  const problem = f.modules.errors.describeFailedJob(first.job, { datasetTitle: 'Lake sediment cores', projectName: 'alice/soil-survey' });
  assert.equal(problem.title, 'The import failed');
  assert.match(problem.message, /“Lake sediment cores” into alice\/soil-survey: The dataset files could not be downloaded/);
  assert.match(problem.next, /Nothing was added.*retry/);
  assert.equal(problem.action, 'retry');
  assert.deepEqual(await f.modules.renku.listProjectDatasets('102'), []);

  const again = await f.modules.renku.startImport('102', failing);
  assert.notEqual(again, first.job.id);
  assert.equal((await follow(again)).job.state, 'failed');
});

test('the flaky demo dataset fails its first import, and the retry completes and lists it once', async () => {
  const flaky = 'doi:10.5072/FK2/FLAKY';
  const first = await follow(await f.modules.renku.startImport('102', flaky));
  assert.equal(first.job.state, 'failed');
  assert.equal(first.job.error?.code, 'download_interrupted');
  assert.match(first.job.error!.message, /trying again usually works/);
  assert.deepEqual(await f.modules.renku.listProjectDatasets('102'), []);

  const retried = await follow(await f.modules.renku.startImport('102', flaky));
  assert.deepEqual(retried.states, ['pending', 'running', 'completed']);
  assert.deepEqual((await f.modules.renku.listProjectDatasets('102')).map((d) => d.doi), [flaky]);
});

test('an import into a project that is not the user\'s is refused by Renku, said plainly, with a retry', async () => {
  const error = await rejection(f.modules.renku.startImport('201', demoDoi)); // bob's project
  assert.equal(error.status, 404);
  assert.equal(error.code, 'project_not_found');
  const problem = f.modules.errors.describeError(error, { action: 'import' });
  assert.equal(problem.title, 'Renku refused the import');
  assert.match(problem.message, /There is no project 201 of yours/);
  assert.equal(problem.action, 'retry');
});

test('a job Renku does not know is "Renku no longer knows this import"', async () => {
  const error = await rejection(f.modules.renku.fetchJob('0b8e1a3c-0000-4000-8000-000000000000'));
  assert.equal(error.status, 404);
  assert.equal(f.modules.errors.describeError(error, { action: 'job' }).title, 'Renku no longer knows this import');
});

test('Renku service job states (ENQUEUED, IN_PROGRESS, COMPLETED, FAILED) read like the demo\'s', () => {
  const { jobState } = f.modules.renku;
  assert.deepEqual(['ENQUEUED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'pending', 'running', 'completed', 'failed'].map(jobState),
    ['pending', 'running', 'completed', 'failed', 'pending', 'running', 'completed', 'failed']);
});
