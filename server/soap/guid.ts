import { randomUUID } from 'node:crypto';

/** `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`, the form of seed 002's ContextID and SWS_WSID. */
export const guidPattern = /^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$/i;

/** A random GUID in braces and upper case: a version-4 UUID, so 122 random bits. */
export function randomGuid(): string {
  return `{${randomUUID().toUpperCase()}}`;
}
