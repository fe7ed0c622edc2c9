import { AppError } from '../errors.ts';

/**
 * Checks the raw (still percent-encoded) path that follows `/api/<name>` and returns it
 * unchanged when it cannot leave the upstream's base path, whichever way the upstream (or a
 * proxy in front of it) normalizes it. Refused with 400 `bad_path`: dot segments, also encoded
 * (`..`, `%2e%2e`, `.%2E`, `..;`), encoded slashes and backslashes (`%2f`, `%5c`), backslashes,
 * double encoding (`%252e`), NUL and control characters, also encoded (`%0d`, `%0A`, `%00`),
 * empty segments (`//`), and percent
 * sequences that do not decode.
 */
export function upstreamPath(rest: string): string {
  if (rest === '') return '';
  if (!rest.startsWith('/')) throw badPath();
  if (/[\\\u0000-\u0020\u007f]/.test(rest)) throw badPath();
  // Encoded control characters too: a %0d%0a that an upstream (or a proxy before it) decodes
  // into a header or a log line splits it.
  if (/%(2f|5c|[01][0-9a-f]|7f|25[0-9a-f]{2})/i.test(rest)) throw badPath();
  const segments = rest.slice(1).split('/');
  segments.forEach((segment, index) => {
    // A trailing slash is fine; `a//b` is not (some servers fold it, others treat it as root).
    if (segment === '') {
      if (index === segments.length - 1) return;
      throw badPath();
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw badPath();
    }
    // `..;x` is `..` to servlet containers, which drop path parameters.
    const bare = decoded.split(';')[0];
    if (bare === '.' || bare === '..') throw badPath();
  });
  return rest;
}

function badPath(): AppError {
  return new AppError(
    'bad_path',
    'The path may not contain dot segments, encoded slashes, backslashes, control characters or double encoding.',
  );
}
