/**
 * The layering rule of docs/ARCHITECTURE.md, read from the import graph of src/ (static and dynamic imports,
 * type-only ones too: a type is a dependency on what defines it).
 *
 *   cli, index  ->  frontend, observe  ->  force  ->  engine  ->  sandbox, store  ->  ir  ->  errors
 *   runtime.ts (the wiring that opens a store, a sandbox and an engine) is used by cli and index only: a front
 *   end or the forcer is handed what it runs on, so the cluster worker and the Lambda handler can wire their own.
 *
 * errors.ts is the shared leaf. An arrow not in ALLOWED fails the test: there are no exceptions. (Front ends are
 * handed a ForceContext or a "force these placeholders" function; the sandbox names host files through the
 * FileNamer it is handed, not the store's hash cache.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO } from '../helpers/cli.js';

type Layer =
  'cli' | 'index' | 'frontend' | 'observe' | 'force' | 'runtime' | 'engine' | 'sandbox' | 'store' | 'ir' | 'errors';

const ALLOWED: Record<Layer, Layer[]> = {
  cli: ['index', 'frontend', 'observe', 'force', 'runtime', 'engine', 'sandbox', 'store', 'ir', 'errors'],
  index: ['frontend', 'observe', 'force', 'runtime', 'engine', 'sandbox', 'store', 'ir', 'errors'],
  frontend: ['force', 'engine', 'store', 'ir', 'errors'],
  observe: ['force', 'engine', 'store', 'ir', 'errors'],
  force: ['engine', 'store', 'ir', 'errors'],
  runtime: ['engine', 'sandbox', 'store', 'ir', 'errors'],
  engine: ['sandbox', 'store', 'ir', 'errors'],
  sandbox: ['ir', 'errors'],
  store: ['ir', 'errors'],
  ir: ['errors'],
  errors: [],
};

const SRC = path.join(REPO, 'src');

function layerOf(rel: string): Layer {
  const top = rel.split('/')[0]!.replace(/\.ts$/, '');
  assert.ok(top in ALLOWED, `src/${rel} is in no layer: add its directory to ALLOWED and docs/ARCHITECTURE.md`);
  return top as Layer;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)'(\.[^']+)'/gm)].map((m) => m[1]!);
  return specs.map((s) => path.relative(SRC, path.resolve(path.dirname(file), s)).replace(/\.js$/, '.ts'));
}

describe('layers', () => {
  const arrows = sources(SRC).flatMap((file) => {
    const rel = path.relative(SRC, file);
    return importsOf(file).map((to) => ({ from: rel, to }));
  });

  it('reads a real graph (every layer imports or is imported)', () => {
    assert.ok(arrows.length > 100, `${arrows.length} imports found`);
    for (const l of Object.keys(ALLOWED))
      assert.ok(
        arrows.some((a) => layerOf(a.from) === l || layerOf(a.to) === l),
        l,
      );
  });

  it('has no arrow the rule forbids', () => {
    const broken = arrows
      .filter((a) => layerOf(a.from) !== layerOf(a.to) && !ALLOWED[layerOf(a.from)].includes(layerOf(a.to)))
      .map((a) => `${a.from} -> ${a.to}`);
    assert.deepEqual([...new Set(broken)], [], 'imports against the layering rule (see docs/ARCHITECTURE.md)');
  });

  it('fails on a forbidden arrow (the check itself works)', () => {
    assert.equal(ALLOWED[layerOf('ir/name.ts')].includes(layerOf('store/store.ts')), false);
    assert.equal(ALLOWED[layerOf('errors.ts')].length, 0);
  });
});
