// The `gg` and `gg-force-and-run` programs (dist/bin/), made by `npm run build` after `tsc`.
// Why: Node 20 resolves, reads and compiles each module on every start (its module compile cache is 22.1+), and
// a placeholder run as a program, or a memoized `gg force`, is mostly start-up. So each program is
//  - one CommonJS script, `dist/bin/NAME.main.js` (esbuild; commander bundled in: one file read, no ES module
//    loader), which its small loader `dist/bin/NAME.js` (the package's `bin`) runs through V8's code cache kept
//    in the user's cache directory (src/cli/code-cache.ts: why that is safe);
//  - the other dependencies (the AWS SDK, ioredis, bullmq) are not bundled: `require`d from node_modules, and
//    only by the commands that use them (esbuild keeps each bundled module's evaluation lazy).
// dist/src stays as tsc wrote it (the library, the tests, the spawner's child and the Lambda handler run from
// there); a module that finds files next to itself through `import.meta.url` is handed its own dist/src URL.
import { build } from 'esbuild';
import { buildNative } from './build-native.mjs';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist/bin');
const src = path.join(root, 'dist/src');

/** `import.meta.url` in a bundled module -> the URL of that module's file in dist/src, relative to the bundle. */
const ownUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(src + path.sep)) return undefined;
      const text = await fs.readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return { contents: text, loader: 'js' };
      const rel = JSON.stringify(path.relative(outdir, args.path));
      const url = `require('node:url').pathToFileURL(require('node:path').join(__dirname, ${rel})).href`;
      return { contents: text.replaceAll('import.meta.url', url), loader: 'js' };
    });
  },
};

/**
 * A dependency's `import()` becomes a `require` (a script run through node:vm has no dynamic import), and so does
 * a built-in module's `import()` (one loaded only when needed, e.g. node:stream/promises).
 */
const requireDeps = {
  name: 'require-dependencies',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if ((args.path.startsWith('node:') && args.kind !== 'dynamic-import') || args.path === 'commander')
        return undefined;
      if (args.namespace === 'dep') return { path: args.path, external: true };
      return { path: args.path, namespace: 'dep' };
    });
    b.onLoad({ filter: /.*/, namespace: 'dep' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/**
 * The first two lines of each loader: a shell script that starts Node on the same file (a JavaScript expression
 * and a comment to Node). Why not `#!/usr/bin/env node`: Node 20 parses the file NODE_EXTRA_CA_CERTS names at
 * every start, ~50 ms of CPU with the system bundle there, more than a whole memoized `gg force`; so Node is
 * started with the variable moved aside, and the program puts it back for its children and trusts the file on
 * its first TLS connection (src/store/tls-trust.ts). Left alone when NODE_OPTIONS picks another CA store
 * (--use-openssl-ca). No process besides sh; `node` is found on PATH, as `env node` found it.
 */
/**
 * `gg force` first tries dist/bin/gg-memo-force (src/force/memo-force.c: a fully memoized force without Node,
 * whose start is then most of the time); it exits 75 for anything else, and so does a binary that cannot run
 * (126, 127): Node then does the work. A link to the launcher (npm's bin) is followed to find it.
 * GG_MEMO_FAST=0 turns it off.
 */
const MEMO_FAST =
  '[ "${1-}" != force ] || [ "${GG_MEMO_FAST-}" = 0 ] || { f=$0; [ ! -L "$f" ] || f=$(readlink -f -- "$f"); ' +
  '[ ! -x "${f%/*}/gg-memo-force" ] || { "${f%/*}/gg-memo-force" "$@"; r=$?; ' +
  '[ $r = 75 ] || [ $r = 126 ] || [ $r = 127 ] || exit $r; }; }; ';
const launcher = (name) =>
  [
    '#!/bin/sh',
    `":" //; ${name === 'gg' ? MEMO_FAST : ''}case " \${NODE_OPTIONS-} " in *-ca*) ;; *) [ -z "\${NODE_EXTRA_CA_CERTS-}" ] || { export GG_TS_NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; unset NODE_EXTRA_CA_CERTS; } ;; esac; exec node -- "$0" "$@"`,
    '',
  ].join('\n');

/**
 * esbuild turns each `import fs from 'node:fs'` of each bundled module into `__toESM(require('node:fs'), 1)`: a
 * new object with a getter per export of the module (fs has ~100), made again at every import site; a memoized
 * `gg force` makes ~20 of them, ~8 M instructions of the ~150 M its start costs. Every such object of one module
 * is the same (a getter reads the module's live property; a namespace is never written to), so one per module
 * serves all: the helper is wrapped in a cache. The build fails if esbuild's helper is not found as expected.
 */
function oneNamespacePerModule(text, file) {
  const helper = 'var __toESM = (mod, isNodeMode, target) =>';
  if (text.split(helper).length !== 2) throw new Error(`${file}: esbuild's __toESM helper was not found once`);
  return text.replace(
    helper,
    [
      'var __toESMOnce = new WeakMap();',
      'var __toESM = (mod, isNodeMode) => {',
      "  if ((typeof mod !== 'object' && typeof mod !== 'function') || !mod || !isNodeMode || mod.__esModule)",
      '    return __toESMEach(mod, isNodeMode);',
      '  let ns = __toESMOnce.get(mod);',
      '  if (ns === void 0) __toESMOnce.set(mod, (ns = __toESMEach(mod, isNodeMode)));',
      '  return ns;',
      '};',
      'var __toESMEach = (mod, isNodeMode, target) =>',
    ].join('\n'),
  );
}

await fs.rm(outdir, { recursive: true, force: true });
await fs.mkdir(outdir, { recursive: true });
// .js under dist/bin is CommonJS (the package is ESM): a CommonJS entry starts faster than an ES module.
await fs.writeFile(path.join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
const programs = { gg: 'cli/gg.js', 'gg-force-and-run': 'cli/force-and-run.js' };
for (const [name, entry] of Object.entries(programs)) {
  const main = path.join(outdir, `${name}.main.js`);
  await build({
    entryPoints: [path.join(src, entry)],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outfile: main,
    plugins: [ownUrl, requireDeps],
    logLevel: 'warning',
  });
  // The entry's `#!` line would be a syntax error inside the module wrapper the loader compiles it in.
  const text = oneNamespacePerModule((await fs.readFile(main, 'utf8')).replace(/^#!.*\n/, ''), main);
  // ASCII only: the loader then reads it as latin1, without decoding UTF-8 (src/cli/code-cache.ts, readSource).
  // esbuild escapes other characters, except in template literals: write those as \u escapes.
  const other = /[^\x00-\x7f]/.exec(text);
  if (other)
    throw new Error(
      `${main}: a character outside ASCII (${JSON.stringify(text.slice(Math.max(0, other.index - 40), other.index + 10))})`,
    );
  await fs.rm(main);
  await fs.writeFile(main, text, { mode: 0o644 });
  if (/\bimport\(/.test(text)) throw new Error(`${main}: a dynamic import() is left (it cannot run through node:vm)`);
  const hash = crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
  // The code cache is kept per command (what `gg force` compiles is not what `gg init` does).
  const kind = name === 'gg' ? `process.argv[2] ?? ''` : JSON.stringify('run');
  const loader = path.join(outdir, `${name}.js`);
  await build({
    stdin: {
      contents: [
        `import { launch } from ${JSON.stringify(path.join(src, 'cli/code-cache.js'))};`,
        `launch(require('node:path').join(__dirname, ${JSON.stringify(`${name}.main.js`)}), '${hash}', ${kind});`,
      ].join('\n'),
      resolveDir: outdir,
      loader: 'js',
    },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outfile: loader,
    plugins: [ownUrl],
    logLevel: 'warning',
  });
  await fs.writeFile(loader, launcher(name) + oneNamespacePerModule(await fs.readFile(loader, 'utf8'), loader), {
    mode: 0o755,
  });
  await fs.chmod(loader, 0o755);
}

buildNative(root);
