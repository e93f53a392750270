// The `gg` and `gg-force-and-run` programs as bundles (dist/bin/), made by `npm run build` after `tsc`.
// Why: Node 20 resolves, reads and compiles each ES module on every start (it has no compile cache), and a
// placeholder run as a program, or a memoized `gg force`, is mostly start-up. Bundling tsc's output into a few
// files cuts that; the commands stay lazily loaded (code splitting: each `import()` of a command is a chunk of
// its own). Dependencies are not bundled (`packages: 'external'`): the AWS SDK, ioredis and bullmq are still
// loaded from node_modules, and only by the commands that use them.
// dist/src stays as tsc wrote it (the library, the tests, the spawner's child and the Lambda handler run from
// there); a module that finds files next to itself through `import.meta.url` is handed its own dist/src URL.
import { build } from 'esbuild';
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
      return { contents: text.replaceAll('import.meta.url', `new URL(${rel}, import.meta.url).href`), loader: 'js' };
    });
  },
};

await fs.rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { gg: path.join(src, 'cli/gg.js'), 'gg-force-and-run': path.join(src, 'cli/force-and-run.js') },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  outdir,
  // Chunks beside the entries: the URLs handed to modules (above) are relative to this one directory.
  chunkNames: '[name]-[hash]',
  plugins: [ownUrl],
  logLevel: 'warning',
});
for (const entry of ['gg.js', 'gg-force-and-run.js']) await fs.chmod(path.join(outdir, entry), 0o755);
