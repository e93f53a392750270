/**
 * Where the jail's directories go (src/sandbox/jail-home.ts): the root of the store's own file system, and the
 * store's directories when `.gg-jail` there cannot be trusted. Each case on a fresh tmpfs (a file system whose
 * root we control); mounting needs root, as gg's jail does.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { jailPlaces } from '../../src/sandbox/jail-home.js';
import { tempDir } from '../helpers/cli.js';

describe('jail home', () => {
  let mnt: string;
  let cacheDir: string;
  beforeEach(() => {
    mnt = tempDir('gg-jail-home-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0755', 'gg-jail-home', mnt]);
    cacheDir = path.join(mnt, 'project', '.gg', 'cache');
    fs.mkdirSync(cacheDir, { recursive: true });
  });
  afterEach(() => {
    execFileSync('umount', ['-l', mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  });

  it("goes to <mount point>/.gg-jail/<id>: root's, closed to others, named after no path", () => {
    const places = jailPlaces(cacheDir);
    assert.equal(places.notice, undefined);
    const home = path.dirname(places.rootsDir);
    assert.match(home, new RegExp(`^${mnt}/\\.gg-jail/[0-9a-f]{24}$`));
    assert.equal(places.scratchDir, path.join(home, 'tmp'));
    for (const d of [path.dirname(home), home, places.rootsDir, places.scratchDir]) {
      const st = fs.lstatSync(d);
      assert.ok(st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0, `${d} mode ${st.mode.toString(8)}`);
    }
    assert.equal(fs.readFileSync(path.join(home, 'store'), 'utf8'), fs.realpathSync(cacheDir));
    assert.deepEqual(jailPlaces(cacheDir), places, 'the same store finds the same home');
    const other = path.join(mnt, 'other', '.gg', 'cache');
    fs.mkdirSync(other, { recursive: true });
    assert.notEqual(jailPlaces(other).rootsDir, places.rootsDir, 'another store gets its own');
  });

  for (const [what, plant, reason] of [
    ['writable by others', (top: string) => (fs.mkdirSync(top), fs.chmodSync(top, 0o777)), /can be written by others/],
    [
      'owned by another user',
      (top: string) => (fs.mkdirSync(top, { mode: 0o711 }), fs.chownSync(top, 1234, 1234)),
      /belongs to uid 1234/,
    ],
    ['a symbolic link', (top: string) => fs.symlinkSync(tempDir('gg-elsewhere-'), top), /is not a directory/],
  ] as const) {
    it(`a .gg-jail ${what} is not used: the store's own directories are, and the notice says why`, () => {
      const top = path.join(mnt, '.gg-jail');
      plant(top);
      const places = jailPlaces(cacheDir);
      assert.equal(places.rootsDir, path.join(cacheDir, 'roots'));
      assert.equal(places.scratchDir, undefined);
      assert.match(places.notice ?? '', reason);
      assert.match(places.notice ?? '', /mountinfo/);
    });
  }

  it("removes the home of a store that is gone (its hard links hold deleted blobs' space), keeps the others'", async () => {
    const top = path.join(mnt, '.gg-jail');
    fs.mkdirSync(top, { mode: 0o711 });
    const orphan = path.join(top, 'a'.repeat(24));
    fs.mkdirSync(path.join(orphan, 'roots/k/usr'), { recursive: true });
    fs.writeFileSync(path.join(orphan, 'roots/k/usr/big'), 'x'.repeat(4096));
    fs.writeFileSync(path.join(orphan, 'store'), path.join(mnt, 'deleted-project/.gg/cache'));
    const alive = path.join(top, 'b'.repeat(24));
    fs.mkdirSync(alive);
    fs.writeFileSync(path.join(alive, 'store'), mnt); // its store exists
    const making = path.join(top, 'c'.repeat(24)); // no owner yet: being made right now
    fs.mkdirSync(making);
    const leftTrash = path.join(top, '.trash-0123456789abcdef'); // a background rm killed before it finished
    fs.mkdirSync(path.join(leftTrash, 'roots'), { recursive: true });
    const ours = path.dirname(jailPlaces(cacheDir).rootsDir);
    assert.equal(fs.existsSync(orphan), false, 'moved out of the way at once');
    assert.equal(fs.existsSync(alive), true);
    assert.equal(fs.existsSync(making), true);
    // Deleted in the background (a detached rm): soon nothing but the live homes is left.
    const left = (): string[] =>
      fs
        .readdirSync(top)
        .map((n) => path.join(top, n))
        .filter((d) => ![alive, making, ours].includes(d));
    for (const deadline = Date.now() + 10_000; left().length > 0 && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(left(), [], 'the orphan and the old trash are gone');
  });
});
