import { AppError } from '../errors.ts';

/** What a user (on /tokens) or a script (device sign-in) asks a new token to be. */
export interface TokenRequest {
  name: string;
  days: number;
  /** null: all upstreams. */
  upstreams: string[] | null;
  readOnly: boolean;
}

/** The raw fields, as a form or a device-code request sends them. */
export interface TokenRequestFields {
  name: unknown;
  expiresInDays: unknown;
  /** Repeated form fields (an array) or one space-separated string. */
  upstreams: unknown;
  readOnly: unknown;
}

/** The lifetimes offered on the page, in days, up to the configured maximum (always included). */
export function lifetimeChoices(maxDays: number): number[] {
  return [...new Set([1, 7, 30, 90, 365].filter((days) => days < maxDays).concat(maxDays))];
}

/**
 * Validates a token request; every problem is a 400 naming the field. `defaultName` is used
 * when no name is sent (device sign-in: the client's name).
 */
export function parseTokenRequest(
  fields: TokenRequestFields,
  limits: { maxDays: number; upstreams: readonly string[] },
  defaultName?: string,
): TokenRequest {
  const rawName = typeof fields.name === 'string' && fields.name.trim() !== '' ? fields.name : defaultName;
  const name = typeof rawName === 'string' ? rawName.trim() : '';
  if (name === '') throw invalid('name', 'Give the token a name (up to 64 characters).');
  if (name.length > 64 || /[\u0000-\u001f\u007f]/.test(name))
    throw invalid('name', 'A token name has at most 64 characters and no control characters.');

  const rawDays =
    fields.expiresInDays === undefined || fields.expiresInDays === '' ? String(limits.maxDays) : fields.expiresInDays;
  const days = typeof rawDays === 'string' && /^\d{1,5}$/.test(rawDays) ? Number(rawDays) : NaN;
  if (!(days >= 1 && days <= limits.maxDays))
    throw invalid('expires_in_days', `Choose a lifetime from 1 to ${limits.maxDays} days.`);

  const list = Array.isArray(fields.upstreams)
    ? fields.upstreams
    : typeof fields.upstreams === 'string'
      ? fields.upstreams.split(/\s+/)
      : fields.upstreams === undefined
        ? []
        : [null];
  const names = [
    ...new Set(list.map((item) => (typeof item === 'string' ? item.trim() : '\u0000')).filter((item) => item !== '')),
  ];
  const unknown = names.filter((item) => !limits.upstreams.includes(item));
  if (unknown.length) {
    throw invalid('upstreams', 'Name only declared upstream APIs.', { known: [...limits.upstreams] });
  }

  const readOnly =
    fields.readOnly === undefined || fields.readOnly === ''
      ? false
      : ['on', 'true', '1', 'yes'].includes(String(fields.readOnly));
  return { name, days, upstreams: names.length ? names : null, readOnly };
}

function invalid(field: string, message: string, extra: Record<string, unknown> = {}): AppError {
  return new AppError('invalid_request', message, { details: { field, ...extra } });
}
