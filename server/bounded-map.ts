/**
 * Sets `key` in an in-process cache of at most `max` entries: the key becomes the newest, and
 * the oldest entry goes when the cache is full (caches hold what can always be fetched again).
 */
export function setBounded<K, V>(cache: Map<K, V>, key: K, value: V, max: number): void {
  cache.delete(key);
  if (cache.size >= max) cache.delete(cache.keys().next().value as K);
  cache.set(key, value);
}
