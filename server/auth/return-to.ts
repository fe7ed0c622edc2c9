/**
 * `returnTo` as a local path, or `/`. Accepts `/path?query#hash` only: no scheme, no host,
 * no `//` or `/\` (browsers read both as another host), no control characters.
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2000) return '/';
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return '/';
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return '/';
  // The URL parser has the final word: resolved against a dummy origin it must stay there.
  const base = 'http://gatehouse.invalid';
  let resolved: URL;
  try {
    resolved = new URL(value, base);
  } catch {
    return '/';
  }
  if (resolved.origin !== base) return '/';
  // Dot segments and encoded dots collapse while parsing (`/a/..//x`, `/.//x`, `/%2e//x` all
  // become `//x`), so the checks above are repeated on what will actually be sent.
  if (resolved.pathname.startsWith('//') || resolved.pathname.startsWith('/\\')) return '/';
  return `${resolved.pathname}${resolved.search}${resolved.hash}`;
}
