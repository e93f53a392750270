/**
 * scripts/bundle.mjs wraps esbuild's `__toESM` helper so that every import of one built-in module (node:fs...)
 * in the bundle shares one namespace object instead of building a new one per import site. Checked on the
 * helpers as built into each program and its loader: the same object for one module, live properties, and
 * anything else (an ES module compiled to CommonJS, a primitive export) handled as esbuild does.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import vm from 'node:vm';
import { REPO } from '../helpers/cli.js';

type ToEsm = (mod: unknown, isNodeMode?: number) => Record<string, unknown>;

/** The bundle's helpers (everything before its first module), evaluated on their own: its `__toESM`. */
function bundledToEsm(file: string): ToEsm {
  const text = fs.readFileSync(file, 'latin1');
  const end = text.indexOf('\n// ');
  assert.ok(end > 0, `${file}: no module after the helpers`);
  const helpers = text.slice(0, end).replace(/^#!.*\n.*\n/, ''); // a loader's two launcher lines
  return vm.runInThisContext(`(() => {\n${helpers}\nreturn __toESM;\n})()`, { filename: file }) as ToEsm;
}

const require = createRequire(import.meta.url);

describe('bundled programs: one namespace per built-in module', () => {
  for (const name of ['gg.main.js', 'gg.js', 'gg-force-and-run.main.js', 'gg-force-and-run.js']) {
    it(`${name}: one object per module, live, and esbuild's behaviour for the rest`, () => {
      const toEsm = bundledToEsm(path.join(REPO, 'dist/bin', name));
      const nodeFs = require('node:fs') as typeof fs;
      const a = toEsm(nodeFs, 1);
      assert.equal(toEsm(nodeFs, 1), a, 'the same object at a second import site');
      assert.notEqual(toEsm(require('node:path'), 1), a);
      assert.equal(a['default'], nodeFs);
      assert.equal(a['readFileSync'], nodeFs.readFileSync);
      // Live: a getter per export reads the module's property now, as esbuild's does.
      const mod: Record<string, unknown> = { x: 1 };
      const ns = toEsm(mod, 1);
      mod['x'] = 2;
      assert.equal(ns['x'], 2);
      // An ES module compiled to CommonJS gets a fresh object each time, as before: in node mode its default is
      // the whole module, otherwise its own default.
      const esm = { __esModule: true, default: 'd', y: 3 };
      assert.equal(toEsm(esm, 1)['default'], esm);
      assert.notEqual(toEsm(esm, 1), toEsm(esm, 1));
      assert.equal(toEsm(esm)['default'], 'd');
      assert.equal(toEsm(esm)['y'], 3);
      // Not node mode, or an export that cannot key a WeakMap: esbuild's own result.
      assert.equal(toEsm(mod)['x'], 2);
      assert.equal(toEsm('text', 1)['default'], 'text');
      assert.equal(toEsm(undefined, 1)['default'], undefined);
    });
  }
});
