import { readFileSync } from 'node:fs';

/** This Gatehouse's version, from its package.json: `/readyz` reports it and doctor compares it. */
export const gatehouseVersion: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
