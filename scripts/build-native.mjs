// Builds gg's two small C programs with the host's C compiler: dist/bin/gg-memo-force (src/force/memo-force.c,
// the fast path of a fully memoized `gg force`) and dist/bin/gg-spawner (src/sandbox/spawner.c, the helper that
// starts programs and jails without forking a Node process). Run by scripts/bundle.mjs after each build and by
// npm as `postinstall`, so that an installed package builds its own binaries for its own machine (none is
// packed: one built elsewhere may not run here). Without a compiler, or if it fails, there is no binary and gg
// uses Node instead: slower, same results. It never fails an install.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const PROGRAMS = [
  { source: 'src/force/memo-force.c', out: 'dist/bin/gg-memo-force', without: 'gg force runs in Node only' },
  { source: 'src/sandbox/spawner.c', out: 'dist/bin/gg-spawner', without: 'programs start from a Node helper' },
];

/** True when the binary was built; otherwise says why on stderr and leaves no binary behind. */
function build(root, { source, out, without }) {
  source = path.join(root, source);
  out = path.join(root, out);
  const tmp = `${out}.tmp-${process.pid}`;
  const cc = process.env.CC || 'cc';
  const say = (why) => process.stderr.write(`gg-ts: no ${path.basename(out)} (${why}): ${without}\n`);
  if (!fs.existsSync(source)) return (say(`${source} is missing`), false);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const made = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-o', tmp, source], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (made.status === 0) {
    fs.renameSync(tmp, out); // never a half-written program under the name gg runs
    return true;
  }
  fs.rmSync(tmp, { force: true });
  fs.rmSync(out, { force: true }); // a stale binary from another source would not match this version
  say(made.error ? `${cc}: ${made.error.message}` : `${cc} failed`);
  return false;
}

/** Builds every program; true when all were built. */
export function buildNative(root = ROOT) {
  return PROGRAMS.map((p) => build(root, p)).every(Boolean);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) buildNative();
