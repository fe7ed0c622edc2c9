/**
 * Writes `.env.example` from the configuration schema (`variables` in server/config.ts):
 * `npm run env:example`. test/config.test.ts fails when the committed file differs.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { variables } from '../server/config.ts';

const header = [
  'Gatehouse configuration. Copy to .env (read at start; the environment overrides it).',
  'With nothing set, `npm start` runs in development with the embedded IdP and demo APIs.',
  'Every variable is checked at start; all problems are reported at once.',
  'Generated from server/config.ts by `npm run env:example`: edit the schema, not this file.',
];

/** Comment lines at most this wide (the `# ` included), broken between words. */
const width = 100;

/** The text of `.env.example`: per variable its doc line, an example when there is one, and its default. */
export function renderEnvExample(): string {
  const lines = header.map((line) => `# ${line}`);
  variables.forEach((variable, index) => {
    if (index === 0 || variable.group) lines.push('');
    if (variable.group) lines.push(`# --- ${variable.group}`);
    lines.push(...comment(variable.doc));
    if (variable.example !== undefined) lines.push(`# example: ${variable.example}`);
    // Commented out: an unset variable takes its default, so the file changes nothing until edited.
    lines.push(`# ${variable.name}=${variable.default ?? ''}`);
  });
  return `${lines.join('\n')}\n`;
}

function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/)) {
    if (line !== '#' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(fileURLToPath(new URL('../.env.example', import.meta.url)), renderEnvExample());
}
