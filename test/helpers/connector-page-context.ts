import assert from 'node:assert/strict';
import * as api from '../../public/js/api.js';
import * as errors from '../../public/js/connector-errors.js';
import * as state from '../../public/js/connector-state.js';
import * as reference from '../../public/js/dataset-reference.js';
import * as dataverse from '../../public/js/dataverse-client.js';
import * as renku from '../../public/js/renku-client.js';
import type { CookieBrowser } from './cookie-browser.ts';

/**
 * The connector page's browser modules (public/js), loaded into Node. Their types are their
 * own JSDoc (the shapes are in public/js/types.js), so a test cannot drift from the page.
 */
export interface ConnectorModules {
  api: typeof api;
  reference: typeof reference;
  state: typeof state;
  dataverse: typeof dataverse;
  renku: typeof renku;
  errors: typeof errors;
}

/** The connector's browser modules, imported once per process, like a browser's module map. */
export async function loadConnectorModules(): Promise<ConnectorModules> {
  return { api, reference, state, dataverse, renku, errors };
}

/**
 * What a page call rejected with (ApiError, SignInRequired, NotPublished…), to check as the
 * page would; fails the test when the call resolved instead.
 */
export async function rejection(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
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
  constructor(
    public gatehouseUrl: string,
    public browser: CookieBrowser,
    search = '',
  ) {
    const navigations = this.navigations;
    Object.assign(globalThis, {
      location: { pathname: '/connector', search, hash: '', assign: (url: string) => navigations.push(url) },
    });
    globalThis.fetch = async (input, init) => {
      // Gatehouse runs in this process too: its own calls (discovery, JWKS, tokens) pass untouched.
      if (typeof input !== 'string' || !input.startsWith('/')) return this.realFetch(input, init);
      const headers = new Headers(init?.headers);
      this.calls.push({
        method: init?.method ?? 'GET',
        path: input,
        headers,
        ...(typeof init?.body === 'string' ? { body: init.body } : {}),
      });
      return this.browser.request(new URL(input, this.gatehouseUrl).href, { ...init, headers });
    };
  }

  /** Puts the real `fetch` back and removes `location`. */
  restore(): void {
    globalThis.fetch = this.realFetch;
    delete (globalThis as { location?: unknown }).location;
  }
}
