/**
 * Write fib(N) as a thunk into the local store (.gg found as gg does) and print its name:
 *   node dist/examples/fibonacci/make-fib.js 20 > fib.name && gg force $(cat fib.name)
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '../../src/frontend/sdk.js';
import { findGgDir } from '../../src/store/gg-dir.js';
import { LocalStore } from '../../src/store/local-store.js';
import { fibThunk, type FibEnv } from './fib.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODULES = ['examples/fibonacci/fib.js', 'examples/fibonacci/add.js', 'src/frontend/sdk.js', 'src/ir/name.js', 'src/ir/thunk.js', 'src/ir/protobuf.js', 'src/errors.js'];

export function writeFib(store: LocalStore, n: number): string {
  const g = new GraphBuilder(store);
  const node = g.file(process.execPath);
  const modules = MODULES.map((m) => ({ name: g.file(path.join(DIST, m)), filename: m }));
  // Without a package.json saying so, node would read the modules as CommonJS.
  modules.push({ name: g.value('{"type":"module"}\n'), filename: 'package.json' });
  const e: FibEnv = { node, modules, runtime: [] };
  const t = fibThunk(n, e);
  return g.thunk({ function: t.function.hash, args: t.function.args, env: t.function.envars, values: t.values, executables: t.executables, outputs: t.outputs }).name;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const store = new LocalStore(findGgDir());
  process.stdout.write(`${writeFib(store, Number(process.argv[2] ?? '20'))}\n`);
  store.hashCache.flush();
}
