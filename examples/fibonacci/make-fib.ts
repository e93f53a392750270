/**
 * Write fib(N) as a thunk into the local store (.gg found as gg does) and print its name:
 *   node dist/examples/fibonacci/make-fib.js 20 > fib.name && gg force $(cat fib.name)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '../../src/frontend/sdk.js';
import { findGgDir } from '../../src/store/gg-dir.js';
import { LocalStore } from '../../src/store/local-store.js';
import { fibThunk, type FibEnv } from './fib.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRIES = ['examples/fibonacci/fib.js', 'examples/fibonacci/add.js'];

/** The entry modules and every module of ours they import, transitively (paths relative to dist/). */
export function moduleClosure(entries: string[]): string[] {
  const seen = new Set<string>();
  const visit = (rel: string): void => {
    if (seen.has(rel)) return;
    seen.add(rel);
    const src = fs.readFileSync(path.join(DIST, rel), 'utf8');
    for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/g)) {
      visit(path.posix.normalize(path.posix.join(path.posix.dirname(rel), m[1]!)));
    }
  };
  entries.forEach(visit);
  return [...seen].sort();
}

export function writeFib(store: LocalStore, n: number): string {
  const g = new GraphBuilder(store);
  // node and its shared libraries, declared at their absolute paths: the jail holds nothing else.
  const node = g.executableFile(process.execPath);
  const modules = moduleClosure(ENTRIES).map((m) => ({ name: g.file(path.join(DIST, m)), filename: m }));
  // Without a package.json saying so, node would read the modules as CommonJS.
  modules.push({ name: g.value('{"type":"module"}\n'), filename: 'package.json' });
  const e: FibEnv = { node: node.name, modules, runtime: node.inputs };
  const t = fibThunk(n, e);
  return g.thunk({
    function: t.function.hash,
    args: t.function.args,
    env: t.function.envars,
    values: t.values,
    executables: t.executables,
    outputs: t.outputs,
  }).name;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const store = new LocalStore(findGgDir());
  process.stdout.write(`${writeFib(store, Number(process.argv[2] ?? '20'))}\n`);
  store.hashCache.flush();
}
