/**
 * "Latest request wins", for answers that fill the same part of a page: a slow answer to an
 * earlier request must not overwrite the answer to a later one. Each call of the returned
 * `begin()` starts a request and gives back `isLatest()`, true until `begin()` is called
 * again; an answer that arrives when its `isLatest()` is false is dropped.
 *
 *   const beginLookup = latestRequest();
 *   const isLatest = beginLookup();
 *   const found = await search(query);
 *   if (!isLatest()) return;
 *
 * @returns {() => () => boolean} `begin`
 */
export function latestRequest() {
  let latest = 0;
  return function begin() {
    const mine = ++latest;
    return () => mine === latest;
  };
}
