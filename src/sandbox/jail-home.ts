/**
 * Where a jail's host-side directories live: the staged roots and the run directories it binds.
 *
 * A bind mount's line in /proc/self/mountinfo names its source by its path within its file system, and no
 * mount option hides it (finding 10, docs/SECURITY.md). Under the store (`.gg/cache/roots`, `.gg/tmp`) that
 * path names the user's project (`/home/alice/secret/.gg/...`). So both live at the root of the store's file
 * system instead, in `<mount point>/.gg-jail/<id>/{roots,tmp}`: a thunk then reads only `/.gg-jail/<id>/...`.
 * They must stay on that file system (inputs are hard links to blobs, outputs are renamed into the store),
 * which is why the freedesktop trash keeps `.Trash-<uid>` at file system roots for the same reason.
 *
 * `<id>` is a hash of the store's path (nothing readable). `.gg-jail` must be a root-owned directory that no
 * one else can write, else a local user could plant staged roots: when it is not, or the file system's root
 * cannot be written, the store's own directories are used and the sandbox says so in its notice.
 * A store that no longer exists leaves its `<id>` behind holding hard links to its deleted blobs: the next
 * jail set up on that file system removes it.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { removeTree } from './tree.js';

/** Where a sandbox keeps what it binds into jails. */
export interface JailPlaces {
  /** Staged jail roots (JailRoots); on the store's file system (they are hard links to blobs). */
  rootsDir: string;
  /** Run directories; undefined = the cache's own temp directory. */
  scratchDir?: string | undefined;
  /** Set when the store's own directories had to be used: what the thunk can then see, and why. */
  notice?: string;
}

const HOME = '.gg-jail';
/** Records which store a home belongs to, so a home whose store is gone can be swept. */
const OWNER_FILE = 'store';

export function jailPlaces(cacheDir: string): JailPlaces {
  const fallback = (why: string): JailPlaces => ({
    rootsDir: path.join(cacheDir, 'roots'),
    scratchDir: undefined,
    notice: `jail directories stay under the store (${why}): a thunk can read the store's host path in /proc/self/mountinfo`,
  });
  let real: string;
  try {
    real = fs.realpathSync(cacheDir);
  } catch (e) {
    return fallback((e as Error).message);
  }
  const mount = mountPointOf(real);
  if (mount === undefined) return fallback('its mount point was not found in /proc/self/mountinfo');
  const top = path.join(mount, HOME);
  const home = path.join(top, crypto.createHash('sha256').update(real).digest('hex').slice(0, 24));
  try {
    for (const d of [top, home]) {
      try {
        fs.mkdirSync(d, { mode: 0o711 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const problem = unsafeDir(d);
      if (problem) return fallback(`${d} ${problem}`);
    }
    for (const d of ['roots', 'tmp']) fs.mkdirSync(path.join(home, d), { recursive: true, mode: 0o711 });
    if (!sameMount(cacheDir, home)) return fallback(`${home} cannot hold hard links to the store's files`);
    const owner = path.join(home, OWNER_FILE);
    if (!fs.existsSync(owner)) {
      // Whole or not at all: a sweeper reading half a path would think this store gone.
      const tmp = `${owner}.${process.pid}`;
      fs.writeFileSync(tmp, real, { mode: 0o600 });
      fs.renameSync(tmp, owner);
    }
  } catch (e) {
    return fallback(`${top}: ${(e as Error).message}`);
  }
  sweepOrphans(top, home);
  return { rootsDir: path.join(home, 'roots'), scratchDir: path.join(home, 'tmp') };
}

/** The mount point (as this process sees it) of the mount holding `file`: the longest prefix, the last mounted. */
function mountPointOf(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  let best: string | undefined;
  for (const line of text.split('\n')) {
    const raw = line.split(' ')[4];
    if (raw === undefined) continue;
    const point = raw.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const inside = point === '/' || file === point || file.startsWith(`${point}/`);
    if (inside && (best === undefined || point.length >= best.length)) best = point;
  }
  return best;
}

/** Why `dir` cannot be trusted with jail material (a link, not root's, writable by others), or undefined. */
function unsafeDir(dir: string): string | undefined {
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) return 'is not a directory';
  if (st.uid !== process.getuid?.()) return `belongs to uid ${st.uid}, not to gg's user`;
  if ((st.mode & 0o022) !== 0) return 'can be written by others';
  return undefined;
}

/** Hard links (and renames) only work within one mount: try one. */
function sameMount(cacheDir: string, home: string): boolean {
  const probe = path.join(cacheDir, `.jail-probe-${process.pid}`);
  const linked = path.join(home, `.probe-${process.pid}`);
  try {
    fs.writeFileSync(probe, '');
    fs.linkSync(probe, linked);
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(probe, { force: true });
    fs.rmSync(linked, { force: true });
  }
}

/** Where a swept home goes before it is deleted: never mistaken for a home, and removed by any later sweep. */
const TRASH_PREFIX = '.trash-';

/**
 * Homes whose store is gone: their hard links would keep the deleted blobs' space in use. Deleting one is
 * a store's worth of unlinks (a toolchain's blobs are freed here, not when the .gg was removed: ~1.5 s for
 * lua's on this disk), which would land on whatever build set up a jail next. So a home is renamed out of
 * the way at once (a store made again at the same path gets a fresh one) and deleted by a detached `rm` at
 * the lowest priority; trash a killed `rm` left behind is picked up by the next sweep.
 */
function sweepOrphans(top: string, ours: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(top);
  } catch {
    return;
  }
  const trash: string[] = [];
  for (const n of names) {
    const home = path.join(top, n);
    if (home === ours) continue;
    if (n.startsWith(TRASH_PREFIX)) {
      trash.push(home);
      continue;
    }
    let owner: string;
    try {
      owner = fs.readFileSync(path.join(home, OWNER_FILE), 'utf8');
    } catch {
      continue; // being made right now, or not ours to judge
    }
    if (fs.existsSync(owner)) continue;
    const moved = path.join(top, `${TRASH_PREFIX}${crypto.randomBytes(8).toString('hex')}`);
    try {
      fs.renameSync(home, moved);
      trash.push(moved);
    } catch {
      // another gg is sweeping it too; it is only space
    }
  }
  if (trash.length > 0) removeInBackground(trash);
}

/** `nice rm -rf` of `dirs`, detached (it may outlive us); removed here instead if it cannot start. */
function removeInBackground(dirs: string[]): void {
  const removeHere = (): void => {
    for (const d of dirs) {
      try {
        removeTree(d);
      } catch {
        // another sweep has it
      }
    }
  };
  try {
    const rm = spawn('nice', ['-n', '19', 'rm', '-rf', '--', ...dirs], { detached: true, stdio: 'ignore' });
    rm.on('error', removeHere);
    rm.unref();
  } catch {
    removeHere();
  }
}
