import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { InvalidReference } from '../public/js/types.js';
import { type ConnectorModules, loadConnectorModules } from './helpers/connector-page-context.ts';

// What the connector page makes of the lookup field and of its own URL, before any call.

let m: ConnectorModules;
before(async () => {
  m = await loadConnectorModules();
});

test('a DOI is read from doi:, a bare 10. prefix, a DOI link and any Dataverse link with persistentId', () => {
  const cases: Array<[string, string]> = [
    ['doi:10.5072/FK2/J8SJZB', 'doi:10.5072/FK2/J8SJZB'],
    ['  DOI:10.5072/FK2/J8SJZB ', 'doi:10.5072/FK2/J8SJZB'],
    ['10.5072/FK2/J8SJZB', 'doi:10.5072/FK2/J8SJZB'],
    ['https://doi.org/10.5072/FK2/J8SJZB', 'doi:10.5072/FK2/J8SJZB'],
    ['http://dx.doi.org/10.7910/DVN/TJCLKP', 'doi:10.7910/DVN/TJCLKP'],
    ['doi.org/10.5072/FK2/J8SJZB', 'doi:10.5072/FK2/J8SJZB'],
    ['https://doi.org/10.5072%2FFK2%2FJ8SJZB', 'doi:10.5072/FK2/J8SJZB'],
    ['https://dataverse.harvard.edu/dataset.xhtml?persistentId=doi:10.7910/DVN/TJCLKP', 'doi:10.7910/DVN/TJCLKP'],
    ['https://demo.dataverse.org/citation?persistentId=doi:10.70122/FK2/ABC123&version=2.0', 'doi:10.70122/FK2/ABC123'],
    [
      'https://demo.dataverse.org/api/datasets/:persistentId/?persistentId=doi%3A10.70122%2FFK2%2FABC123',
      'doi:10.70122/FK2/ABC123',
    ],
    ['doi:10.1000.10/182', 'doi:10.1000.10/182'],
  ];
  for (const [input, doi] of cases)
    assert.deepEqual(m.reference.parseDatasetReference(input), { kind: 'doi', doi }, input);
});

test('something that tries to be a DOI but is not one is malformed_doi', () => {
  for (const input of [
    'doi:10.5072',
    'doi:10.5072/',
    'doi:10.123/x',
    'doi:10.1234567890/x',
    'doi:11.5072/x',
    'doi:10.5072/FK2 J8SJZB',
    'doi:',
    '10.5072',
    'https://doi.org/not-a-doi',
    'https://doi.org/10.5072%E0%A4%A/x',
    'https://demo.dataverse.org/dataset.xhtml?persistentId=hdl:1902.1/21919',
    'https://demo.dataverse.org/dataset.xhtml?persistentId=doi:10.5072',
  ]) {
    assert.deepEqual(
      m.reference.parseDatasetReference(input),
      { kind: 'invalid', reason: 'malformed_doi', input: input.trim() },
      input,
    );
  }
});

test('a link that is neither a DOI link nor a Dataverse dataset link is unsupported_url', () => {
  for (const input of [
    'https://example.org/some/page',
    'https://demo.dataverse.org/dataverse/root',
    'http://[broken',
  ]) {
    assert.equal((m.reference.parseDatasetReference(input) as { reason: string }).reason, 'unsupported_url', input);
  }
});

test('anything else is a keyword search, white space folded; empty and over-long input are refused', () => {
  assert.deepEqual(m.reference.parseDatasetReference('  soil \t moisture '), {
    kind: 'keywords',
    query: 'soil moisture',
  });
  assert.deepEqual(m.reference.parseDatasetReference('wheat'), { kind: 'keywords', query: 'wheat' });
  assert.deepEqual(m.reference.parseDatasetReference('   '), { kind: 'invalid', reason: 'empty', input: '' });
  assert.equal((m.reference.parseDatasetReference('x'.repeat(501)) as { reason: string }).reason, 'too_long');
  assert.equal(m.reference.parseDatasetReference('x'.repeat(500)).kind, 'keywords');
});

test('each refusal reads as a plain sentence with what to do next', () => {
  const problems = ['', 'doi:10.5072', 'https://example.org/x'].map((input) =>
    m.errors.describeInvalidReference(m.reference.parseDatasetReference(input) as InvalidReference),
  );
  assert.deepEqual(
    problems.map((p) => p.title),
    ['Nothing to look up', 'Not a valid DOI', 'Not a dataset link'],
  );
  assert.equal(problems[1]!.message, '“doi:10.5072” is not a valid DOI.');
  assert.ok(problems.every((p) => p.next.length > 20 && p.action === 'none'));
});

test('the form state survives a round trip through the page URL; unusable values are dropped', () => {
  const state = { q: 'doi:10.5072/FK2/J8SJZB', project: '01HQZ8Y6G00000000000000001' };
  const search = m.state.formStateSearch(state);
  assert.equal(search, '?q=doi%3A10.5072%2FFK2%2FJ8SJZB&project=01HQZ8Y6G00000000000000001');
  assert.deepEqual(m.state.readFormState(search), state);
  assert.equal(m.state.formStateSearch({}), '');
  assert.deepEqual(
    m.state.readFormState('?q=soil+moisture&project=../../x&job=old-import-job'),
    { q: 'soil moisture', project: '' },
    'a legacy job is ignored',
  );
  assert.equal(m.state.readFormState('?project=..').project, '', 'a dot segment is no project id');
});
