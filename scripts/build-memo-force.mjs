// Builds dist/bin/gg-memo-force (src/force/memo-force.c, the fast path of a fully memoized `gg force`) with
// the host's C compiler. Run by scripts/bundle.mjs after each build and by npm as `postinstall`, so that an
// installed package builds its own binary for its own machine (none is packed: one built elsewhere may not
// run here). Without a compiler, or if it fails, there is no binary and the `gg` launcher runs Node for every
// `gg force`: slower when memoized, same results. It never fails an install.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** True when the binary was built; otherwise says why on stderr and leaves no binary behind. */
export function buildMemoForce(root = ROOT) {
  const source = path.join(root, 'src/force/memo-force.c');
  const out = path.join(root, 'dist/bin/gg-memo-force');
  const tmp = `${out}.tmp-${process.pid}`;
  const cc = process.env.CC || 'cc';
  const say = (why) => process.stderr.write(`gg-ts: no gg-memo-force (${why}): gg force runs in Node only\n`);
  if (!fs.existsSync(source)) return (say(`${source} is missing`), false);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const made = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-o', tmp, source], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (made.status === 0) {
    fs.renameSync(tmp, out); // never a half-written program under the name the launcher runs
    return true;
  }
  fs.rmSync(tmp, { force: true });
  fs.rmSync(out, { force: true }); // a stale binary from another source would not match this version
  say(made.error ? `${cc}: ${made.error.message}` : `${cc} failed`);
  return false;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) buildMemoForce();
