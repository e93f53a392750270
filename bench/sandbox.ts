/**
 * Per-thunk cost of the bubblewrap jail, side by side with an unsandboxed run (--sandbox=none) of the same
 * thunk on the same engine, alternating runs so machine noise hits both alike:
 *  - 1 input:    a static program that writes its output (the function is the only input);
 *  - 300 inputs: the same program with 299 more declared files at absolute paths (system headers);
 *  - gcc -c:     hello.c compiled by the real gcc, with its full closure (driver, cc1, as, libraries,
 *                headers from gcc -M), all at their absolute paths.
 * Then the cost of staging a new root (first use of a set of absolute inputs), and what bubblewrap's pieces
 * cost alone (spawned bare, outside gg).
 * Usage: node dist/bench/sandbox.js [--runs N] [--no-gcc]
 * On a machine busy with other work, a jail's 3-4 processes each wait for a CPU in turn and the wall times
 * say more about the load than about the jail; `chrt -f 10 node dist/bench/sandbox.js` runs the bench (and
 * its children) ahead of the rest. The CPU columns do not depend on load.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalEngine } from '../src/engine/local-engine.js';
import { executableClosure } from '../src/frontend/executable-closure.js';
import { GraphBuilder } from '../src/frontend/sdk.js';
import type { Thunk, ThunkInput } from '../src/ir/thunk.js';
import { createSandbox } from '../src/sandbox/create-sandbox.js';
import { bwrapVersion } from '../src/sandbox/bwrap-sandbox.js';
import { JailRoots } from '../src/sandbox/jail-roots.js';
import { jailExecHelper } from '../src/sandbox/jail-exec-helper.js';
import type { Sandbox } from '../src/sandbox/sandbox.js';
import { initGgDir } from '../src/store/gg-dir.js';
import { LocalStore } from '../src/store/local-store.js';

const arg = (flag: string, dflt: string): string => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const RUNS = Number(arg('--runs', '40'));

interface Case {
  label: string;
  name: string;
  thunk: Thunk;
  inputs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function compileStaticWriter(dir: string): string {
  const src = path.join(dir, 'writeout.c');
  fs.writeFileSync(
    src,
    '#include <stdio.h>\nint main(void) { FILE *f = fopen("out", "w"); if (!f) return 1; fputs("hi\\n", f); return fclose(f) != 0; }\n',
  );
  const bin = path.join(dir, 'writeout');
  execFileSync('gcc', ['-static', '-O2', '-o', bin, src]);
  return bin;
}

function declared(g: GraphBuilder, files: { filename: string; hostPath: string }[]): ThunkInput[] {
  return files.map((f) => ({ name: g.file(f.hostPath), filename: f.filename }));
}

/** gcc -c hello.c with everything it touches: driver, cc1, as and their libraries, the headers. */
function gccCase(g: GraphBuilder, dir: string): Case {
  const hello = path.join(dir, 'hello.c');
  fs.writeFileSync(
    hello,
    '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void) { puts("hello"); return 0; }\n',
  );
  const cc1 = execFileSync('gcc', ['-print-prog-name=cc1'], { encoding: 'utf8' }).trim();
  const as = execFileSync('sh', ['-c', 'command -v as'], { encoding: 'utf8' }).trim();
  const headers = execFileSync('gcc', ['-O2', '-M', hello], { encoding: 'utf8' })
    .replace(/\\\n/g, ' ')
    .split(/\s+/)
    .filter((f) => f.startsWith('/') && f !== hello);
  const gcc = g.executableFile('/usr/bin/gcc');
  const files = [
    ...executableClosure(cc1),
    ...executableClosure(as),
    ...headers.map((h) => ({ filename: h, hostPath: h })),
  ];
  const executables = [...gcc.inputs, ...declared(g, files)];
  const t = g.thunk({
    function: gcc.name,
    executables,
    values: [{ name: g.file(hello), filename: 'hello.c' }],
    args: ['gcc', '-pipe', '-O2', '-c', 'hello.c', '-o', 'hello.o'],
    env: { PATH: '/usr/bin:/bin' },
    outputs: ['hello.o'],
  });
  return {
    label: 'gcc -c hello.c',
    name: t.name,
    thunk: t.thunk,
    inputs: new Set(executables.map((e) => e.filename)).size + 1,
  };
}

/** CPU ms used so far by this process and every child it has waited for (the jail's processes included). */
function cpuMs(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
  return ticks * 10; // USER_HZ = 100 on Linux
}

interface Samples {
  none: number[];
  bwrap: number[];
  cpu: { none: number; bwrap: number };
}

async function timeRuns(
  cases: Case[],
  engines: { none: LocalEngine; bwrap: LocalEngine },
): Promise<Map<string, Samples>> {
  const times = new Map(
    cases.map((c): [string, Samples] => [c.label, { none: [], bwrap: [], cpu: { none: 0, bwrap: 0 } }]),
  );
  // Warm-up: stages the roots, fills the page cache; then once more after a second, since the hash cache
  // does not trust a file changed (hard-linked into a root) within the last second.
  for (let round = 0; round < 2; round++) {
    if (round === 1) await new Promise((r) => setTimeout(r, 1100));
    for (const c of cases) {
      await engines.bwrap.execute(c.name, c.thunk);
      await engines.none.execute(c.name, c.thunk);
    }
  }
  // One case at a time (a run right after gcc pays for gcc's aftermath: writeback, freed memory), each
  // alternating between the two sandboxes.
  for (const c of cases) {
    for (let i = 0; i < RUNS; i++) {
      const order: ('none' | 'bwrap')[] = i % 2 ? ['none', 'bwrap'] : ['bwrap', 'none'];
      for (const kind of order) {
        const cpu = cpuMs();
        const start = performance.now();
        await engines[kind].execute(c.name, c.thunk);
        const s = times.get(c.label)!;
        s[kind].push(performance.now() - start);
        s.cpu[kind] += cpuMs() - cpu;
      }
    }
  }
  return times;
}

function bareBwrapCosts(headers: string[]): [string, number][] {
  const base = [
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--symlink',
    'usr/bin',
    '/bin',
  ];
  const perFile = headers.flatMap((h, i) => ['--ro-bind', h, `/in/${i}.h`]);
  const variants: [string, string, string[]][] = [
    ['/bin/true, spawned bare', '/bin/true', []],
    ['bwrap, no new namespaces but mount', 'bwrap', [...base, '/bin/true']],
    [
      'bwrap + user, pid, ipc, uts',
      'bwrap',
      [...base, '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '/bin/true'],
    ],
    [
      'bwrap + user, pid, ipc, uts, net',
      'bwrap',
      [...base, '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '/bin/true'],
    ],
    [
      'bwrap --unshare-all + /proc + /dev',
      'bwrap',
      [...base, '--unshare-all', '--proc', '/proc', '--dev', '/dev', '/bin/true'],
    ],
    ['bwrap + 1 bind of a dir of the inputs', 'bwrap', [...base, '--ro-bind', '/usr/include', '/in', '/bin/true']],
    [`bwrap + ${headers.length} binds, one per input`, 'bwrap', [...base, '--tmpfs', '/in', ...perFile, '/bin/true']],
  ];
  const samples = new Map<string, number[]>(variants.map(([l]) => [l, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const [label, cmd, args] of variants) {
      const start = performance.now();
      const r = spawnSync(cmd, args, { stdio: 'ignore' });
      samples.get(label)!.push(performance.now() - start);
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
    }
  }
  return variants.map(([l]) => [l, median(samples.get(l)!)]);
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-bench-sandbox-'));
  try {
    const ggDir = initGgDir(dir, {});
    const store = new LocalStore(ggDir);
    const g = new GraphBuilder(store);
    const writer = g.file(compileStaticWriter(dir));
    const headers = execFileSync('sh', ['-c', 'find /usr/include -maxdepth 2 -name "*.h" -type f | sort | head -299'], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    const one = g.thunk({ function: writer, args: ['writeout'], outputs: ['out'] });
    const many = g.thunk({
      function: writer,
      values: headers.map((h) => ({ name: g.file(h), filename: h })),
      args: ['writeout'],
      outputs: ['out'],
    });
    const cases: Case[] = [
      { label: '1 input (static program)', name: one.name, thunk: one.thunk, inputs: 1 },
      {
        label: `${headers.length + 1} inputs (same + headers)`,
        name: many.name,
        thunk: many.thunk,
        inputs: headers.length + 1,
      },
      ...(process.argv.includes('--no-gcc') ? [] : [gccCase(g, dir)]),
    ];
    store.hashCache.flush();
    const rootsDir = path.join(ggDir, 'cache', 'roots');
    const sandboxes: Sandbox[] = [
      await createSandbox('none', store.hashCache, { rootsDir }),
      await createSandbox('bwrap', store.hashCache, { rootsDir }),
    ];
    const engines = { none: new LocalEngine(store, sandboxes[0]!), bwrap: new LocalEngine(store, sandboxes[1]!) };
    console.log(
      `gg-ts sandbox bench: ${os.cpus().length} cpus, ${os.release()}, ${bwrapVersion() ?? 'bwrap ?'}, ${RUNS} runs each (median ms)`,
    );
    if (sandboxes[1]!.notice) console.log(`note: ${sandboxes[1]!.notice}`);
    const times = await timeRuns(cases, engines);
    console.log('\nper thunk (engine.execute: stage, run, collect outputs), unsandboxed vs jail:');
    // Runs alternate, so the median of paired differences cancels most of the noise other load adds to both.
    // CPU ms per run (this process + every process of the run) does not grow with load from elsewhere.
    console.log(
      `${'thunk'.padEnd(34)} ${'inputs'.padStart(6)} ${'none'.padStart(8)} ${'bwrap'.padStart(8)} ${'overhead'.padStart(9)} ${'ratio'.padStart(6)}   ${'cpu none'.padStart(8)} ${'cpu bwrap'.padStart(9)}`,
    );
    for (const c of cases) {
      const t = times.get(c.label)!;
      const none = median(t.none);
      const bw = median(t.bwrap);
      const paired = median(t.bwrap.map((b, i) => b - t.none[i]!));
      console.log(
        `${c.label.padEnd(34)} ${String(c.inputs).padStart(6)} ${none.toFixed(2).padStart(8)} ${bw.toFixed(2).padStart(8)} ${paired.toFixed(2).padStart(9)} ${(bw / none).toFixed(2).padStart(5)}x   ${(t.cpu.none / RUNS).toFixed(1).padStart(8)} ${(t.cpu.bwrap / RUNS).toFixed(1).padStart(9)}`,
      );
    }
    // First use of a toolchain: building its staged root (hard links), then the cached lookup.
    const files = many.thunk.values.map((v) => ({
      name: v.name,
      filename: v.filename!,
      hostPath: store.blobPath(v.name),
    }));
    const coldDir = path.join(ggDir, 'cache', 'roots-bench');
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < 10; i++) {
      fs.rmSync(coldDir, { recursive: true, force: true });
      const roots = new JailRoots(coldDir, jailExecHelper()!);
      let start = performance.now();
      roots.rootFor(files);
      cold.push(performance.now() - start);
      start = performance.now();
      new JailRoots(coldDir, jailExecHelper()!).rootFor(files);
      warm.push(performance.now() - start);
    }
    console.log(
      `\nstaging a root for ${files.length} absolute inputs: ${median(cold).toFixed(2)} ms once per toolchain; found again by a new process: ${median(warm).toFixed(2)} ms; within a process: a map lookup`,
    );
    console.log('\nbubblewrap alone (spawnSync, outside gg):');
    for (const [label, ms] of bareBwrapCosts(headers))
      console.log(`  ${label.padEnd(40)} ${ms.toFixed(2).padStart(7)}`);
    await engines.none.close();
    await engines.bwrap.close();
    for (const s of sandboxes) await s.close?.();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
