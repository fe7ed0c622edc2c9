/**
 * An API answered 2xx, but not in the shape the connector reads: usually an upstream URL in
 * `GATEHOUSE_APIS` that points at the wrong base path, or an API version the page does not know.
 */
export class UnexpectedAnswer extends Error {
  /**
   * @param {string} api The API's name as the user knows it (`Dataverse`, `Renku`).
   * @param {string} what What the answer lacked, as in "answered without <what>".
   */
  constructor(api, what) {
    super(`The ${api} API answered without ${what}.`);
    this.name = 'UnexpectedAnswer';
    this.api = api;
    this.what = what;
  }
}
