import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { InvalidReference, Project } from '../public/js/types.js';
import { draftOverPublishedDoi, unpublishedDoi, unsupportedDoi } from '../server/dev/demo-datasets.ts';
import { type ConnectorFixture, startConnectorFixture } from './helpers/connector-fixture.ts';
import { rejection } from './helpers/connector-page-context.ts';

// The connector page's own browser modules (public/js) run here against a real Gatehouse, its
// embedded IdP and the demo Renku 2.x data service and Dataverse-like API, as `npm start`
// wires them. The demo Renku answers with renku-data-services' shapes (bare arrays, paging
// headers, ULIDs, 201/200/409/404/422, `{"error": {"code", "message", "detail"}}`).

let f: ConnectorFixture;
let projects: Project[];
before(async () => {
  f = await startConnectorFixture();
  projects = await f.modules.renku.listProjects();
});
after(() => f.stop());

const demoDoi = 'doi:10.5072/FK2/J8SJZB';
const ulid = /^[0-9A-HJKMNP-TV-Z]{26}$/;

function project(label: string): Project {
  const found = projects.find((p) => `${p.namespace}/${p.slug}` === label);
  assert.ok(found, `alice has ${label}`);
  return found;
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
    assert.equal(dataset.newerDraft, false);
    assert.deepEqual(dataset.authors, [
      { name: 'Dupont, Claire', affiliation: 'INRAE' },
      { name: 'Meier, Jonas', affiliation: 'ETH Zürich' },
    ]);
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

test('a dataset whose latest version is a draft is shown as its published version, asked for at :latest-published', async () => {
  const dataset = await f.modules.dataverse.fetchDataset(draftOverPublishedDoi);
  assert.equal(dataset.title, 'Snow depth transects, 2020', "the published title, not the draft's");
  assert.equal(dataset.newerDraft, true);
  assert.equal(dataset.doi, draftOverPublishedDoi);
  assert.deepEqual(
    f.page.calls.slice(-2).map((c) => c.path),
    [
      '/api/dataverse/api/datasets/:persistentId/?persistentId=doi%3A10.5072%2FFK2%2FDRAFTV',
      '/api/dataverse/api/datasets/:persistentId/versions/:latest-published?persistentId=doi%3A10.5072%2FFK2%2FDRAFTV',
    ],
  );
});

test('a dataset never published is "Not published yet" and is not offered for linking', async () => {
  const error = await rejection(f.modules.dataverse.fetchDataset(unpublishedDoi));
  assert.ok(error instanceof f.modules.dataverse.NotPublished);
  const problem = f.modules.errors.describeError(error, { action: 'lookup', doi: unpublishedDoi });
  assert.equal(problem.title, 'Not published yet');
  assert.match(problem.message, /doi:10\.5072\/FK2\/UNPUBL has no published version/);
  assert.match(problem.next, /Renku links published datasets only/);
  assert.equal(problem.action, 'none');
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
  for (const input of [
    'doi:10.5072',
    'doi:10.12/short-registrant',
    'https://doi.org/11.5072/x',
    'doi:10.5072/FK2 J8SJZB',
  ]) {
    const reference = f.modules.reference.parseDatasetReference(input);
    assert.equal(reference.kind, 'invalid', input);
    const problem = f.modules.errors.describeInvalidReference(reference as InvalidReference);
    assert.equal(problem.title, 'Not a valid DOI', input);
    assert.ok(problem.message.includes(input), input);
    assert.match(problem.next, /doi:10\.5072\/FK2\/J8SJZB/);
  }
  assert.equal(f.page.calls.length, before);
});

test('a keyword search lists the matching datasets with DOI, authors and date; no match lists none', async () => {
  const found = await f.modules.dataverse.searchDatasets('soil moisture');
  assert.equal(found.total, 1);
  assert.deepEqual(found.items, [
    {
      doi: demoDoi,
      title: 'Soil moisture in alpine meadows, 2019–2022',
      authors: ['Dupont, Claire', 'Meier, Jonas'],
      published: '2023-03-14',
    },
  ]);
  assert.equal(f.page.calls.at(-1)!.path, '/api/dataverse/api/search?q=soil%20moisture&type=dataset&per_page=10');
  assert.deepEqual(await f.modules.dataverse.searchDatasets('no such words anywhere'), { total: 0, items: [] });
});

test("the project list follows Renku's paging headers across two pages of 100, without asking any project's permissions", async () => {
  assert.equal(projects.length, 103);
  assert.ok(
    projects.every((p) => ulid.test(p.id)),
    'Renku 2.x ids are ULIDs',
  );
  const renkuCalls = f.page.calls.map((c) => c.path).filter((path) => path.startsWith('/api/renku/'));
  assert.deepEqual(renkuCalls, [
    '/api/renku/projects?direct_member=true&per_page=100&page=1',
    '/api/renku/projects?direct_member=true&per_page=100&page=2',
  ]);
  assert.equal(
    projects.find((p) => p.slug === 'bridge-loads'),
    undefined,
    "bob's private project is not alice's",
  );
  assert.deepEqual(
    { ...project('alice/climate-models'), id: 'ulid' },
    { id: 'ulid', name: 'Climate models', namespace: 'alice', slug: 'climate-models' },
  );
});

test('write access is asked of Renku one project at a time, and says which project alice may only read', async () => {
  const before = f.page.calls.length;
  // Page two holds the last stations and bob's project that alice may read.
  assert.equal(await f.modules.renku.canWrite(project('alpine-lab/station-100').id), true);
  assert.equal(await f.modules.renku.canWrite(project('alice/climate-models').id), true);
  assert.equal(await f.modules.renku.canWrite(project('bob/glacier-archive').id), false);
  assert.deepEqual(
    f.page.calls.slice(before).map((c) => c.path),
    [
      `/api/renku/projects/${project('alpine-lab/station-100').id}/permissions`,
      `/api/renku/projects/${project('alice/climate-models').id}/permissions`,
      `/api/renku/projects/${project('bob/glacier-archive').id}/permissions`,
    ],
  );
});

test("linking sends the Renku UI's global DOI connector body, Renku creates it (201) and links it (201), and the project lists it with its publisher", async () => {
  const climate = project('alice/climate-models');
  assert.deepEqual(await f.modules.renku.listProjectConnectors(climate.id), []);
  const steps: string[] = [];
  const result = await f.modules.renku.linkDataset(climate.id, demoDoi, { onStep: (step) => steps.push(step) });
  assert.deepEqual(steps, ['connector', 'link']);
  assert.equal(result.created, true);
  assert.equal(result.alreadyLinked, false);
  assert.match(result.connector.id, ulid);
  assert.deepEqual(
    { ...result.connector, id: 'ulid' },
    {
      id: 'ulid',
      name: 'Soil moisture in alpine meadows, 2019–2022',
      publisherName: 'Demo Dataverse',
      doi: '10.5072/FK2/J8SJZB',
    },
  );

  const [global, link] = f.page.calls.slice(-2);
  assert.equal(global!.method, 'POST');
  assert.equal(global!.path, '/api/renku/data_connectors/global');
  assert.equal(global!.headers.get('x-csrf'), '1');
  // renku-ui ProjectConnectDataConnectorsModal.tsx sends exactly this, with the bare DOI.
  assert.deepEqual(JSON.parse(global!.body!), {
    storage: {
      configuration: { type: 'doi', doi: '10.5072/FK2/J8SJZB' },
      source_path: '/',
      target_path: '/',
      readonly: true,
    },
  });
  assert.equal(link!.path, `/api/renku/data_connectors/${result.connector.id}/project_links`);
  assert.deepEqual(JSON.parse(link!.body!), { project_id: climate.id });

  const listed = await f.modules.renku.listProjectConnectors(climate.id);
  assert.deepEqual(listed, [result.connector]);
  assert.ok(f.modules.renku.sameDoi(listed[0]!.doi, demoDoi), 'the page marks it as the dataset on show');
});

test('linking the same DOI again finds the existing connector (200) and is "already linked", not an error', async () => {
  const climate = project('alice/climate-models');
  const again = await f.modules.renku.linkDataset(climate.id, 'https://doi.org/10.5072/FK2/J8SJZB');
  assert.equal(again.created, false);
  assert.equal(again.alreadyLinked, true);
  assert.equal((await f.modules.renku.listProjectConnectors(climate.id)).length, 1);
});

test("the same DOI linked to a second project reuses Renku's global connector and links it there too", async () => {
  const first = (await f.modules.renku.listProjectConnectors(project('alice/climate-models').id))[0]!;
  const soil = project('alice/soil-survey');
  const result = await f.modules.renku.linkDataset(soil.id, demoDoi);
  assert.deepEqual([result.created, result.alreadyLinked, result.connector.id], [false, false, first.id]);
  assert.deepEqual(
    (await f.modules.renku.listProjectConnectors(soil.id)).map((c) => c.id),
    [first.id],
  );
});

test('a project alice may only read refuses the link with 404, and the page says so plainly', async () => {
  const archive = project('bob/glacier-archive');
  const error = await rejection(f.modules.renku.linkDataset(archive.id, 'doi:10.5072/FK2/QXW3RT'));
  assert.equal(error.status, 404);
  assert.equal(error.step, 'link');
  assert.equal(error.body.error.code, 1404);
  const problem = f.modules.errors.describeError(error, {
    action: 'link',
    doi: 'doi:10.5072/FK2/QXW3RT',
    projectName: 'bob/glacier-archive',
  });
  assert.equal(problem.title, 'You cannot write to this project');
  assert.match(problem.message, /you do not have write access to bob\/glacier-archive/);
  assert.match(problem.next, /Nothing was linked\. Choose a project you own or edit/);
  assert.equal(problem.action, 'none');
  assert.deepEqual(await f.modules.renku.listProjectConnectors(archive.id), []);
});

test("a DOI Renku cannot resolve is refused with 422, and the page shows Renku's reason", async () => {
  const soil = project('alice/soil-survey');
  const before = await f.modules.renku.listProjectConnectors(soil.id);
  for (const doi of [unsupportedDoi, unpublishedDoi]) {
    const error = await rejection(f.modules.renku.linkDataset(soil.id, doi));
    assert.equal(error.status, 422);
    assert.equal(error.step, 'connector');
    assert.equal(error.body.error.code, 1422);
    const problem = f.modules.errors.describeError(error, { action: 'link', doi });
    assert.equal(problem.title, 'Renku cannot link this dataset');
    assert.equal(problem.message, `Renku refused ${doi}: The provided DOI is not supported.`);
    assert.match(problem.next, /^Nothing was linked\. Renku links datasets whose DOI it can resolve/);
    assert.equal(problem.action, 'none');
  }
  assert.deepEqual(await f.modules.renku.listProjectConnectors(soil.id), before);
});

test("the demo dataset designed to fail is refused with Renku's storage-test reason and detail, offers a retry, and links nothing", async () => {
  const soil = project('alice/soil-survey');
  const before = await f.modules.renku.listProjectConnectors(soil.id);
  for (let attempt = 0; attempt < 2; attempt++) {
    const error = await rejection(f.modules.renku.linkDataset(soil.id, 'doi:10.5072/FK2/FAIL'));
    assert.equal(error.status, 422);
    const problem = f.modules.errors.describeError(error, { action: 'link', doi: 'doi:10.5072/FK2/FAIL' });
    assert.equal(problem.title, 'Renku cannot link this dataset');
    assert.match(
      problem.message,
      /The provided storage configuration is not currently working\. Listing the files of the dataset failed/,
    );
    assert.match(problem.next, /Nothing was linked.*try again/);
    assert.equal(problem.action, 'retry');
  }
  assert.deepEqual(await f.modules.renku.listProjectConnectors(soil.id), before);
});

test('the flaky demo dataset fails its first link, and the retry links it once', async () => {
  const soil = project('alice/soil-survey');
  const flaky = 'doi:10.5072/FK2/FLAKY';
  const error = await rejection(f.modules.renku.linkDataset(soil.id, flaky));
  assert.equal(error.status, 422);
  assert.match(f.modules.errors.describeError(error, { action: 'link', doi: flaky }).message, /did not answer in time/);
  const retried = await f.modules.renku.linkDataset(soil.id, flaky);
  assert.deepEqual([retried.created, retried.alreadyLinked], [true, false]);
  const dois = (await f.modules.renku.listProjectConnectors(soil.id)).map((c) => c.doi);
  assert.deepEqual(
    dois.filter((doi) => f.modules.renku.sameDoi(doi, flaky)),
    ['10.5072/FK2/FLAKY'],
  );
});

test('DOIs are compared as Renku stores them: without doi: or https://doi.org/, in any case', () => {
  const { bareDoi, sameDoi } = f.modules.renku;
  assert.equal(bareDoi('doi:10.5072/FK2/J8SJZB'), '10.5072/FK2/J8SJZB');
  assert.equal(bareDoi('https://doi.org/10.5072/FK2/J8SJZB'), '10.5072/FK2/J8SJZB');
  assert.ok(sameDoi('10.5072/fk2/j8sjzb', 'https://doi.org/10.5072/FK2/J8SJZB'));
  assert.ok(sameDoi('doi:10.5072/FK2/J8SJZB', '10.5072/FK2/J8SJZB'));
  assert.ok(!sameDoi('10.5072/FK2/J8SJZB', '10.5072/FK2/J8SJZ'));
  assert.ok(!sameDoi('', ''));
});
