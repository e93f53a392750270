/**
 * fib N, as a thunk that outputs thunks (a dynamic graph, as in gg's example).
 * Runs inside a thunk: for N < 2 its main output is the value N; otherwise it writes two thunks, fib(N-1) and
 * fib(N-2), as its `left` and `right` outputs, and as its main output an `add` thunk over their results.
 * The runner forces that add thunk in turn, which forces the fib thunks, and so on down to the leaves.
 * Configuration (names of node, of these modules, of node's libraries) travels in the environment.
 */
import fs from 'node:fs';
import { defineThunk, nameThunk, type InputSpec } from '../../src/frontend/sdk.js';

export interface FibEnv {
  node: string;
  /** name=filename: the modules this program needs, laid out as in dist/. */
  modules: InputSpec[];
  /** name=/absolute/path: node's interpreter and shared libraries, for the sandbox. */
  runtime: InputSpec[];
}

function parseList(s: string | undefined): InputSpec[] {
  return (s ?? '')
    .split(',')
    .filter(Boolean)
    .map((e) => {
      const eq = e.indexOf('=');
      return eq < 0 ? e : { name: e.slice(0, eq), filename: e.slice(eq + 1) };
    });
}

export function envOf(e: FibEnv): Record<string, string> {
  const list = (l: InputSpec[]): string =>
    l.map((i) => (typeof i === 'string' ? i : `${i.name}=${i.filename}`)).join(',');
  return { FIB_NODE: e.node, FIB_MODULES: list(e.modules), FIB_RUNTIME: list(e.runtime) };
}

export function fibThunk(n: number, e: FibEnv) {
  return defineThunk({
    function: e.node,
    args: ['node', 'examples/fibonacci/fib.js', String(n)],
    env: envOf(e),
    values: e.modules,
    executables: e.runtime,
    outputs: ['out', 'left', 'right'],
  });
}

function main(): void {
  const n = Number(process.argv[2]);
  const e: FibEnv = {
    node: process.env['FIB_NODE']!,
    modules: parseList(process.env['FIB_MODULES']),
    runtime: parseList(process.env['FIB_RUNTIME']),
  };
  if (n < 2) {
    fs.writeFileSync('out', String(n));
    fs.writeFileSync('left', '');
    fs.writeFileSync('right', '');
    return;
  }
  const left = nameThunk(fibThunk(n - 1, e));
  const right = nameThunk(fibThunk(n - 2, e));
  const add = defineThunk({
    function: e.node,
    args: ['node', 'examples/fibonacci/add.js', `@{GGHASH:${left.name}}`, `@{GGHASH:${right.name}}`],
    thunks: [left.name, right.name],
    values: e.modules,
    executables: e.runtime,
    outputs: ['out'],
  });
  fs.writeFileSync('left', left.bytes);
  fs.writeFileSync('right', right.bytes);
  fs.writeFileSync('out', nameThunk(add).bytes);
}

if (process.argv[1]?.endsWith('fib.js') && process.env['FIB_NODE']) main();
