import { CookieBrowser } from './cookie-browser.ts';

/** A failure as the connector's modules report it (api.js's ApiError, SignInRequired, UnexpectedAnswer). */
export interface PageError extends Error {
  status?: number;
  code?: string;
  body?: any;
}

/** What connector-errors.js returns: shown by the page as title, message, next step and button. */
export interface Problem {
  title: string;
  message: string;
  next: string;
  hint?: string;
  reference?: string;
  action: 'retry' | 'sign-in' | 'none';
}

/** A project as renku-client.js returns it. */
export interface PageProject {
  id: string;
  name: string;
  namespace: string;
  slug: string;
  writable: boolean;
}

/** A data connector as renku-client.js returns it (`doi` bare, as Renku stores it). */
export interface PageConnector {
  id: string;
  name: string;
  publisherName: string;
  doi: string;
}

/** The connector page's browser modules (public/js), loaded into Node. */
export interface ConnectorModules {
  api: {
    ApiError: new (...args: any[]) => PageError;
    SignInRequired: new (...args: any[]) => PageError;
  };
  reference: {
    parseDatasetReference(text: string): { kind: 'doi'; doi: string } | { kind: 'keywords'; query: string } | { kind: 'invalid'; reason: string; input: string };
  };
  state: {
    readFormState(search: string): { q: string; project: string };
    formStateSearch(state: { q?: string; project?: string }): string;
  };
  dataverse: {
    NotPublished: new (...args: any[]) => PageError & { doi: string };
    fetchDataset(doi: string): Promise<{ doi: string; title: string; publisher: string; newerDraft: boolean; authors: Array<{ name: string; affiliation: string }>; files: Array<{ name: string; size?: number; contentType: string }> }>;
    searchDatasets(query: string): Promise<{ total: number; items: Array<{ doi: string; title: string; authors: string[]; published: string }> }>;
  };
  renku: {
    listProjects(): Promise<PageProject[]>;
    canWrite(projectId: string): Promise<boolean>;
    listProjectConnectors(projectId: string): Promise<PageConnector[]>;
    linkDataset(projectId: string, doi: string, options?: { onStep?: (step: 'connector' | 'link') => void }): Promise<{ connector: PageConnector; created: boolean; alreadyLinked: boolean }>;
    bareDoi(doi: string): string;
    sameDoi(a: string, b: string): boolean;
    renkuReason(error: unknown): string;
  };
  errors: {
    describeInvalidReference(reference: { kind: 'invalid'; reason: string; input: string }): Problem;
    describeError(error: unknown, context: { action: string; doi?: string; query?: string; projectName?: string }): Problem;
    describeNoProjects(): Problem;
    noProjectsHint: string;
  };
}

// Plain browser scripts without type declarations: imported by computed specifiers.
const modulePaths = {
  api: '../../public/js/api.js',
  reference: '../../public/js/dataset-reference.js',
  state: '../../public/js/connector-state.js',
  dataverse: '../../public/js/dataverse-client.js',
  renku: '../../public/js/renku-client.js',
  errors: '../../public/js/connector-errors.js',
};

/** Imports the connector's browser modules (once per process, like a browser's module map). */
export async function loadConnectorModules(): Promise<ConnectorModules> {
  const entries = await Promise.all(Object.entries(modulePaths).map(async ([name, path]) => [name, await import(path)] as const));
  return Object.fromEntries(entries) as unknown as ConnectorModules;
}

/**
 * Makes this process look like the connector page to the browser modules: `fetch` of a
 * relative URL goes to the real Gatehouse with `browser`'s cookies (and keeps the cookies it
 * sets), and `location` is `/connector?…`, recording where the page would navigate.
 */
export class ConnectorPageContext {
  /** URLs the page asked the browser to navigate to (`location.assign`). */
  readonly navigations: string[] = [];
  /** Every call the page made: method, path, the headers and the (string) body it sent. */
  readonly calls: Array<{ method: string; path: string; headers: Headers; body?: string }> = [];
  private readonly realFetch = globalThis.fetch;

  /** `gatehouseUrl` and `browser` may be swapped mid-test (another user, a Gatehouse that is gone). */
  constructor(public gatehouseUrl: string, public browser: CookieBrowser, search = '') {
    const navigations = this.navigations;
    Object.assign(globalThis, {
      location: { pathname: '/connector', search, hash: '', assign: (url: string) => navigations.push(url) },
    });
    globalThis.fetch = async (input, init) => {
      // Gatehouse runs in this process too: its own calls (discovery, JWKS, tokens) pass untouched.
      if (typeof input !== 'string' || !input.startsWith('/')) return this.realFetch(input, init);
      const headers = new Headers(init?.headers);
      this.calls.push({ method: init?.method ?? 'GET', path: input, headers, ...(typeof init?.body === 'string' ? { body: init.body } : {}) });
      return this.browser.request(new URL(input, this.gatehouseUrl).href, { ...init, headers });
    };
  }

  /** Puts the real `fetch` back and removes `location`. */
  restore(): void {
    globalThis.fetch = this.realFetch;
    delete (globalThis as { location?: unknown }).location;
  }
}
