/** What an IdP's `jwks_uri` answered: its keys, or the HTTP status of a refusal. */
export type KeySetAnswer = { ok: true; keys: unknown[] } | { ok: false; status: number };

/**
 * Fetches an IdP's key set (JWKS) within `timeoutMs`. A body that is not a key set counts as
 * no keys. Rejects when the IdP cannot be reached or does not answer in time (a
 * `TimeoutError`). Used by `/readyz` and by `npm run doctor`, which judge the answer each in
 * their own words.
 */
export async function fetchKeySet(jwksUri: string, timeoutMs: number): Promise<KeySetAnswer> {
  const response = await fetch(jwksUri, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) {
    await response.body?.cancel();
    return { ok: false, status: response.status };
  }
  const body = (await response.json().catch(() => undefined)) as { keys?: unknown } | undefined;
  return { ok: true, keys: Array.isArray(body?.keys) ? body.keys : [] };
}
