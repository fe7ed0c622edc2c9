// The import graph of server/ points one way: features import the core, never the other way;
// the gate (server/gate/) knows no feature; the entry point is imported by nobody. Type-only
// imports count: a cycle of types is still two modules that cannot be read apart.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../server/', import.meta.url));
const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter(
  (file) => file.endsWith('.ts') && !file.endsWith('.d.ts'),
);
const importPattern = /(?:from\s+|import\s+|import\()['"](\.{1,2}\/[^'"]+)['"]/g;

/** file → the server files it imports (paths relative to server/). */
const graph = new Map<string, string[]>(
  files.map((file) => {
    const source = readFileSync(join(root, file), 'utf8');
    const targets = [...source.matchAll(importPattern)].map((match) => normalize(join(dirname(file), match[1]!)));
    return [file, targets.filter((target) => target.endsWith('.ts'))];
  }),
);

/** The folders that hold features (routes and what only they use); the rest is the core. */
const features = ['auth', 'connector', 'dev', 'doctor', 'external', 'proxy', 'soap', 'tokens'];

function folderOf(file: string): string {
  return dirname(file);
}

/** The strongly connected groups of more than one node (Tarjan), each sorted: the cycles. */
function cycles(edges: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    for (const target of edges.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (stack.includes(target)) low.set(node, Math.min(low.get(node)!, index.get(target)!));
    }
    if (low.get(node) === index.get(node)) {
      const group: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        group.push(member);
      } while (member !== node);
      if (group.length > 1) found.push(group.sort());
    }
  };
  for (const node of edges.keys()) if (!index.has(node)) visit(node);
  return found;
}

test('the layout test reads the whole server', () => {
  assert.ok(files.length > 80);
  assert.ok(graph.get('app.ts')!.includes(join('gate', 'express-gate.ts')));
});

test('no two files of server/ import each other, directly or round about', () => {
  assert.deepEqual(cycles(graph), []);
});

test("no two folders of server/ import each other (the root's files are checked one by one above)", () => {
  const folders = new Map<string, string[]>();
  for (const [file, targets] of graph) {
    const from = folderOf(file);
    if (from === '.') continue;
    for (const target of targets) {
      const to = folderOf(target);
      if (to !== '.' && to !== from) folders.set(from, [...(folders.get(from) ?? []), to]);
    }
  }
  assert.deepEqual(cycles(folders), []);
});

test('the gate imports no feature: every path can run it, and a feature cannot bend it', () => {
  const imports = [...graph]
    .filter(([file]) => folderOf(file) === 'gate')
    .flatMap(([file, targets]) => targets.filter((t) => features.includes(folderOf(t))).map((t) => `${file} → ${t}`));
  assert.deepEqual(imports, []);
});

test('nothing imports main.ts, the entry point; start.ts does the wiring', () => {
  const importers = [...graph].filter(([, targets]) => targets.includes('main.ts')).map(([file]) => file);
  assert.deepEqual(importers, []);
});

test('the configuration layer (config.ts and the APIs file) imports no feature', () => {
  const imports = ['config.ts', 'upstream-registry.ts'].flatMap((file) =>
    graph.get(file)!.filter((target) => features.includes(folderOf(target))),
  );
  assert.deepEqual(imports, []);
});

test('no server module but start.ts imports app.ts', () => {
  const importers = [...graph]
    .filter(([file, targets]) => file !== 'start.ts' && targets.includes('app.ts'))
    .map(([file]) => file);
  assert.deepEqual(importers, []);
});

test('tests start a Gatehouse one way: only test/helpers/harness.ts calls start()', () => {
  const tests = fileURLToPath(new URL('./', import.meta.url));
  const callers = readdirSync(tests, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && file !== join('helpers', 'harness.ts'))
    .filter((file) =>
      /import\s+\{[^}]*\bstart\b[^}]*\}\s+from\s+'[./]*server\/start\.ts'/.test(
        readFileSync(join(tests, file), 'utf8'),
      ),
    );
  assert.deepEqual(callers, []);
});
