import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Writes a `GATEHOUSE_APIS` registry file to a fresh temporary directory and returns its path. */
export function writeApisFile(upstreams: unknown[] | unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'gatehouse-apis-')), 'apis.json');
  writeFileSync(file, JSON.stringify(Array.isArray(upstreams) ? { upstreams } : upstreams));
  return file;
}
