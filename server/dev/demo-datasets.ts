/** A file of a demo dataset. */
export interface DemoFile {
  id: number;
  name: string;
  /** Bytes. */
  size: number;
  contentType: string;
  md5: string;
}

/** A published dataset of the Dataverse-like demo API. */
export interface DemoDataset {
  /** `doi:10.5072/…` (10.5072 is DataCite's test prefix: these DOIs resolve nowhere). */
  persistentId: string;
  databaseId: number;
  versionId: number;
  title: string;
  authors: Array<{ name: string; affiliation: string }>;
  description: string;
  subjects: string[];
  keywords: string[];
  publicationDate: string;
  files: DemoFile[];
  /**
   * A draft on top of the published version: Dataverse's `latestVersion` is then the draft for
   * whoever may edit (the demo shows it to everyone), and the connector must read the published one.
   */
  draft?: { versionId: number; title: string };
  /** Never published: only a draft exists, which Renku could not resolve. */
  unpublished?: boolean;
  /** Published, but Renku's DOI provider cannot resolve it (422 "The provided DOI is not supported."). */
  unsupportedByRenku?: boolean;
}

/**
 * DOI of a dataset that exists, but that the Renku-like demo never manages to link (its
 * storage test always fails, a 422), so the connector's failure path can be shown and tested.
 */
export const failingDoi = 'doi:10.5072/FK2/FAIL';

/**
 * DOI of a dataset whose first link fails in the Renku-like demo (its storage test times out,
 * a 422) and whose next one succeeds, so a retry after a failed link can be shown and tested.
 */
export const flakyDoi = 'doi:10.5072/FK2/FLAKY';

/** DOI of a published dataset that Renku cannot resolve: it refuses to link it as "not supported". */
export const unsupportedDoi = 'doi:10.5072/FK2/NORCLN';

/** DOI of a dataset with a newer draft over its published version. */
export const draftOverPublishedDoi = 'doi:10.5072/FK2/DRAFTV';

/** DOI of a dataset that was never published (a draft only). */
export const unpublishedDoi = 'doi:10.5072/FK2/UNPUBL';

/** The demo catalog. */
export const demoDatasets: readonly DemoDataset[] = [
  {
    persistentId: 'doi:10.5072/FK2/J8SJZB',
    databaseId: 42,
    versionId: 7,
    title: 'Soil moisture in alpine meadows, 2019–2022',
    authors: [
      { name: 'Dupont, Claire', affiliation: 'INRAE' },
      { name: 'Meier, Jonas', affiliation: 'ETH Zürich' },
    ],
    description:
      'Hourly volumetric soil moisture at 10, 30 and 50 cm depth from twelve stations above 1800 m, with station metadata.',
    subjects: ['Earth and Environmental Sciences'],
    keywords: ['soil moisture', 'alpine', 'climate'],
    publicationDate: '2023-03-14',
    files: [
      {
        id: 101,
        name: 'soil_moisture_2019_2022.csv',
        size: 1_843_221,
        contentType: 'text/csv',
        md5: '8b1a9953c4611296a827abf8c47804d7',
      },
      {
        id: 102,
        name: 'station_locations.geojson',
        size: 88_310,
        contentType: 'application/geo+json',
        md5: '5d41402abc4b2a76b9719d911017c592',
      },
      {
        id: 103,
        name: 'README.md',
        size: 4_120,
        contentType: 'text/markdown',
        md5: '7d793037a0760186574b0282f2f435e7',
      },
    ],
  },
  {
    persistentId: 'doi:10.5072/FK2/QXW3RT',
    databaseId: 57,
    versionId: 11,
    title: 'Wheat yield trials under drought stress',
    authors: [
      { name: 'Martin, Léa', affiliation: 'INRAE' },
      { name: 'Okafor, Chidi', affiliation: 'University of Ibadan' },
      { name: 'Keller, Anna', affiliation: 'Agroscope' },
    ],
    description:
      'Grain yield, plant height and heading date of 48 wheat cultivars in irrigated and rain-fed plots over three seasons.',
    subjects: ['Agricultural Sciences'],
    keywords: ['wheat', 'drought', 'field trial'],
    publicationDate: '2022-11-02',
    files: [
      {
        id: 201,
        name: 'yield_trials.xlsx',
        size: 612_044,
        contentType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
        md5: '9e107d9d372bb6826bd81d3542a419d6',
      },
      {
        id: 202,
        name: 'analysis.R',
        size: 15_873,
        contentType: 'type/x-r-syntax',
        md5: 'e4d909c290d0fb1ca068ffaddf22cbd0',
      },
      {
        id: 203,
        name: 'protocol.pdf',
        size: 402_117,
        contentType: 'application/pdf',
        md5: 'd41d8cd98f00b204e9800998ecf8427e',
      },
    ],
  },
  {
    persistentId: failingDoi,
    databaseId: 99,
    versionId: 13,
    title: 'Lake sediment cores (linking always fails: demo of a failure)',
    authors: [{ name: 'Nowak, Piotr', affiliation: 'Demo University' }],
    description: 'A dataset the Renku-like demo never manages to link, to show how a failure looks.',
    subjects: ['Earth and Environmental Sciences'],
    keywords: ['sediment', 'demo'],
    publicationDate: '2024-05-21',
    files: [
      { id: 901, name: 'cores.csv', size: 20_480, contentType: 'text/csv', md5: '0cc175b9c0f1b6a831c399e269772661' },
    ],
  },
  {
    persistentId: flakyDoi,
    databaseId: 77,
    versionId: 15,
    title: 'Glacier runoff gauges (first link fails, a retry works: demo of a retry)',
    authors: [{ name: 'Rossi, Giulia', affiliation: 'Demo University' }],
    description:
      'A dataset whose first link in the Renku-like demo fails, to show that a failed link can simply be retried.',
    subjects: ['Earth and Environmental Sciences'],
    keywords: ['glacier', 'runoff', 'demo'],
    publicationDate: '2024-06-30',
    files: [
      {
        id: 771,
        name: 'runoff_daily.csv',
        size: 311_296,
        contentType: 'text/csv',
        md5: '92eb5ffee6ae2fec3ad71c777531578f',
      },
      {
        id: 772,
        name: 'gauges.json',
        size: 2_048,
        contentType: 'application/json',
        md5: '4a8a08f09d37b73795649038408b5f33',
      },
    ],
  },
  {
    persistentId: unsupportedDoi,
    databaseId: 79,
    versionId: 16,
    title: 'Field notebooks, scanned (Renku cannot resolve this DOI: demo of an unsupported DOI)',
    authors: [{ name: 'Rossi, Giulia', affiliation: 'Demo University' }],
    description: "A published dataset whose DOI the Renku-like demo does not support, to show Renku's 422 reason.",
    subjects: ['Earth and Environmental Sciences'],
    keywords: ['notebooks', 'demo'],
    publicationDate: '2024-08-12',
    files: [
      {
        id: 791,
        name: 'notebooks.pdf',
        size: 9_437_184,
        contentType: 'application/pdf',
        md5: 'c4ca4238a0b923820dcc509a6f75849b',
      },
    ],
    unsupportedByRenku: true,
  },
  {
    persistentId: draftOverPublishedDoi,
    databaseId: 81,
    versionId: 17,
    title: 'Snow depth transects, 2020',
    authors: [{ name: 'Berger, Lukas', affiliation: 'Demo University' }],
    description:
      'Manual snow depth transects, with a newer draft version being edited (the connector offers the published one).',
    subjects: ['Earth and Environmental Sciences'],
    keywords: ['snow', 'transect', 'demo'],
    publicationDate: '2021-02-01',
    files: [
      {
        id: 811,
        name: 'transects_2020.csv',
        size: 52_114,
        contentType: 'text/csv',
        md5: '1f3870be274f6c49b3e31a0c6728957f',
      },
    ],
    draft: { versionId: 18, title: 'Snow depth transects, 2020–2021 (draft)' },
  },
  {
    persistentId: unpublishedDoi,
    databaseId: 83,
    versionId: 19,
    title: 'Permafrost boreholes (draft, never published)',
    authors: [{ name: 'Nowak, Piotr', affiliation: 'Demo University' }],
    description: 'A dataset still in draft: it has no published version for Renku to link.',
    subjects: ['Earth and Environmental Sciences'],
    keywords: ['permafrost', 'demo'],
    publicationDate: '2025-09-09',
    files: [],
    unpublished: true,
  },
];

/** What the connector page offers to try when the demo APIs run: each demo DOI and a keyword search. */
export const demoLookupExamples: ReadonlyArray<{ query: string; label: string }> = [
  ...demoDatasets.map((dataset) => ({ query: dataset.persistentId, label: dataset.title })),
  { query: 'soil moisture', label: 'a keyword search' },
];

const publisher = 'Demo Dataverse';

/** The dataset for a DOI (`doi:…`, `https://doi.org/…`, any case), or undefined. */
export function findDataset(uri: string): DemoDataset | undefined {
  const wanted = normalizeDoi(uri);
  return demoDatasets.find((dataset) => dataset.persistentId.toLowerCase() === wanted?.toLowerCase());
}

/** `doi:10.x/…` from `doi:…` or `https://doi.org/…`; undefined when it is not a DOI. */
export function normalizeDoi(uri: string): string | undefined {
  const match = /^(?:doi:|https?:\/\/(?:dx\.)?doi\.org\/)(10\.\d{4,9}\/\S+)$/i.exec(uri.trim());
  return match ? `doi:${match[1]}` : undefined;
}

/**
 * Dataverse's `GET /api/datasets/:persistentId/` answer (the `data` member). Its
 * `latestVersion` is the draft when there is one, as Dataverse shows it to an editor.
 */
export function dataverseDatasetJson(dataset: DemoDataset): Record<string, unknown> {
  const [authority, ...rest] = dataset.persistentId.slice('doi:'.length).split('/');
  const latest = dataset.draft || dataset.unpublished ? draftVersionJson(dataset) : dataverseVersionJson(dataset);
  return {
    id: dataset.databaseId,
    identifier: rest.join('/'),
    persistentUrl: `https://doi.org/${dataset.persistentId.slice('doi:'.length)}`,
    protocol: 'doi',
    authority,
    publisher,
    publicationDate: dataset.publicationDate,
    storageIdentifier: `file://${dataset.persistentId.slice('doi:'.length)}`,
    latestVersion: latest,
  };
}

/** The published version as Dataverse's `/versions/:latest-published` answers it (the `data` member). */
export function dataverseVersionJson(dataset: DemoDataset): Record<string, unknown> {
  const released = `${dataset.publicationDate}T09:00:00Z`;
  return {
    id: dataset.versionId,
    datasetId: dataset.databaseId,
    datasetPersistentId: dataset.persistentId,
    versionNumber: 1,
    versionMinorNumber: 0,
    versionState: 'RELEASED',
    releaseTime: released,
    createTime: released,
    lastUpdateTime: released,
    license: { name: 'CC BY 4.0', uri: 'http://creativecommons.org/licenses/by/4.0' },
    metadataBlocks: {
      citation: {
        displayName: 'Citation Metadata',
        name: 'citation',
        fields: [
          primitive('title', dataset.title),
          compound(
            'author',
            dataset.authors.map((a) => ({
              authorName: primitive('authorName', a.name),
              authorAffiliation: primitive('authorAffiliation', a.affiliation),
            })),
          ),
          compound('dsDescription', [{ dsDescriptionValue: primitive('dsDescriptionValue', dataset.description) }]),
          { typeName: 'subject', multiple: true, typeClass: 'controlledVocabulary', value: dataset.subjects },
          compound(
            'keyword',
            dataset.keywords.map((k) => ({ keywordValue: primitive('keywordValue', k) })),
          ),
        ],
      },
    },
    files: dataset.files.map((file) => ({
      label: file.name,
      restricted: false,
      version: 1,
      datasetVersionId: dataset.versionId,
      dataFile: {
        id: file.id,
        persistentId: '',
        filename: file.name,
        contentType: file.contentType,
        filesize: file.size,
        storageIdentifier: `file://${file.md5}`,
        rootDataFileId: -1,
        md5: file.md5,
        checksum: { type: 'MD5', value: file.md5 },
        creationDate: dataset.publicationDate,
      },
    })),
  };
}

function draftVersionJson(dataset: DemoDataset): Record<string, unknown> {
  const published = dataverseVersionJson(dataset);
  const fields = (published.metadataBlocks as { citation: { fields: Array<{ typeName: string }> } }).citation.fields;
  return {
    ...published,
    id: dataset.draft?.versionId ?? dataset.versionId,
    versionState: 'DRAFT',
    versionNumber: undefined,
    versionMinorNumber: undefined,
    releaseTime: undefined,
    metadataBlocks: {
      citation: {
        displayName: 'Citation Metadata',
        name: 'citation',
        fields: fields.map((f) =>
          f.typeName === 'title' ? primitive('title', dataset.draft?.title ?? dataset.title) : f,
        ),
      },
    },
  };
}

/** One item of Dataverse's `GET /api/search` answer. */
export function dataverseSearchItem(dataset: DemoDataset): Record<string, unknown> {
  const doi = dataset.persistentId.slice('doi:'.length);
  const names = dataset.authors.map((a) => a.name);
  return {
    name: dataset.title,
    type: 'dataset',
    url: `https://doi.org/${doi}`,
    global_id: dataset.persistentId,
    description: dataset.description,
    published_at: `${dataset.publicationDate}T09:00:00Z`,
    publisher,
    citation: `${names.join('; ')}, ${dataset.publicationDate.slice(0, 4)}, "${dataset.title}", https://doi.org/${doi}, ${publisher}, V1`,
    identifier_of_dataverse: 'demo',
    name_of_dataverse: publisher,
    subjects: dataset.subjects,
    keywords: dataset.keywords,
    fileCount: dataset.files.length,
    versionId: dataset.versionId,
    versionState: dataset.unpublished ? 'DRAFT' : 'RELEASED',
    majorVersion: 1,
    minorVersion: 0,
    authors: names,
  };
}

function primitive(typeName: string, value: string): Record<string, unknown> {
  return { typeName, multiple: false, typeClass: 'primitive', value };
}

function compound(typeName: string, value: unknown[]): Record<string, unknown> {
  return { typeName, multiple: true, typeClass: 'compound', value };
}
