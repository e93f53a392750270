/**
 * The driver's `-###` answer (which compiler proper a source needs, toolchain.ts compileInputs), asked early by
 * a cold build (askPrograms) while the toolchain is still being loaded: the answer compileInputs uses is that
 * one query, and it picks the same compiler proper as when asked at the time.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ToolchainCache, type Toolchain } from '../../src/frontend/infer/toolchain.js';
import type { ThunkInput } from '../../src/ir/thunk.js';
import type { LocalStore } from '../../src/store/local-store.js';
import { cleanupTemps, tempDir, tempLocalStore } from '../helpers/store-fixtures.js';

after(cleanupTemps);

interface FakeDriver {
  realPath: string;
  log: string;
  driver: string;
  cc1: string;
  cc1plus: string;
}

/** A driver on its own PATH that logs each call and, for -###, names cc1 (a .c file) or cc1plus (others). */
function fakeDriver(): FakeDriver {
  const dir = tempDir('gg-tc-query-');
  const realPath = path.join(dir, 'bin');
  fs.mkdirSync(realPath);
  const log = path.join(dir, 'calls.log');
  const cc1 = path.join(dir, 'cc1');
  const cc1plus = path.join(dir, 'cc1plus');
  fs.writeFileSync(cc1, 'cc1 proper\n');
  fs.writeFileSync(cc1plus, 'cc1plus proper\n');
  const driver = path.join(realPath, 'gcc');
  fs.writeFileSync(
    driver,
    [
      '#!/bin/sh',
      `echo "$*" >> ${log}`,
      'case "$*" in',
      `  *"-### -c gg-probe.c") echo ' "${cc1}" "-quiet" "gg-probe.c"' >&2 ;;`,
      `  *-###*) echo ' "${cc1plus}" "-quiet"' >&2 ;;`,
      'esac',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return { realPath, log, driver, cc1, cc1plus };
}

/** The driver's toolchain as a loaded one looks (content names of its files; cc1 and cc1plus its propers). */
function toolchainOf(store: LocalStore, d: FakeDriver): Toolchain {
  const input = (f: string): ThunkInput => ({ name: store.hashCache.hashFile(f), filename: f });
  return {
    driver: d.driver,
    driverName: input(d.driver).name,
    preprocess: [],
    compile: [input(d.driver), input(d.cc1), input(d.cc1plus)],
    assemble: [],
    linking: () => Promise.resolve({ link: [], libDirs: [], extras: {} }),
    env: [],
    propers: [d.cc1, d.cc1plus],
  };
}

function calls(log: string): string[] {
  return fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
}

describe('gg infer: the driver query asked before the toolchain is loaded', () => {
  it('compileInputs uses the early answer: one query per driver and extension, the same compiler proper', async () => {
    const store = tempLocalStore();
    const fake = fakeDriver();
    const cache = new ToolchainCache(store, path.join(store.cacheDir, 'infer'), fake.realPath);
    const tc = toolchainOf(store, fake);
    await cache.askPrograms('gcc', '.c', []);
    assert.deepEqual(calls(fake.log), ['-### -c gg-probe.c'], 'asked before the toolchain is at hand');
    const c = await cache.compileInputs(tc, '.c', []);
    assert.deepEqual(
      c.map((i) => path.basename(i.filename!)),
      ['gcc', 'cc1'],
      'a C source: the driver and cc1, not cc1plus',
    );
    assert.ok(store.hasSync(c[1]!.name), 'the compiler proper the compile needs is stored');
    assert.deepEqual(calls(fake.log), ['-### -c gg-probe.c'], 'and not asked again');
    // another extension is another query, asked when needed
    const cc = await cache.compileInputs(tc, '.cc', []);
    assert.deepEqual(
      cc.map((i) => path.basename(i.filename!)),
      ['gcc', 'cc1plus'],
    );
    assert.deepEqual(calls(fake.log), ['-### -c gg-probe.c', '-### -c gg-probe.cc']);
    // asked again early: no new query
    await cache.askPrograms('gcc', '.c', []);
    await cache.compileInputs(tc, '.c', []);
    assert.equal(calls(fake.log).length, 2);
  });

  it('a driver whose query fails keeps every compiler proper', async () => {
    const store = tempLocalStore();
    const fake = fakeDriver();
    fs.writeFileSync(fake.driver, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    const cache = new ToolchainCache(store, path.join(store.cacheDir, 'infer'), fake.realPath);
    const tc = toolchainOf(store, fake);
    await cache.askPrograms('gcc', '.c', []);
    const c = await cache.compileInputs(tc, '.c', []);
    assert.deepEqual(
      c.map((i) => path.basename(i.filename!)),
      ['gcc', 'cc1', 'cc1plus'],
    );
  });
});
