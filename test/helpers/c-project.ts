/** Small generated C projects for gg infer tests, and the commands that build them. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GG, REPO, tempDir } from './cli.js';

export const GG_FORCE_AND_RUN = path.join(REPO, 'dist/bin/gg-force-and-run.js');

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
  }
}

/** A library (two sources, one header), a program, -MMD depfiles, an archive: like examples/hello-c. */
export const HELLO: Record<string, string> = {
  Makefile: [
    'CFLAGS = -O2 -Wall',
    'hello: main.o libgreet.a',
    '\tcc $(CFLAGS) -o $@ main.o -L. -lgreet',
    'libgreet.a: greet.o shout.o',
    '\trm -f $@; ar rcs $@ greet.o shout.o',
    '%.o: %.c',
    '\tcc $(CFLAGS) -MMD -MP -c -o $@ $<',
    '-include greet.d shout.d main.d',
    '',
  ].join('\n'),
  'greet.h':
    '#ifndef GREET_H\n#define GREET_H\nconst char *greeting(void);\nvoid shout(const char *s, char *out, int n);\n#endif\n',
  'greet.c': '#include "greet.h"\n/* who we greet */\nconst char *greeting(void) { return "hello, world"; }\n',
  'shout.c':
    '#include <ctype.h>\n#include "greet.h"\nvoid shout(const char *s, char *out, int n) {\n  int i = 0;\n  for (; s[i] && i < n - 1; i++) out[i] = (char)toupper((unsigned char)s[i]);\n  out[i] = 0;\n}\n',
  'main.c':
    '#include <stdio.h>\n#include "greet.h"\nint main(void) {\n  char b[64];\n  shout(greeting(), b, sizeof b);\n  printf("%s %s %s\\n", greeting(), b, __FILE__);\n  return 0;\n}\n',
};

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command in `cwd` with the built gg on PATH (as `gg`) and GG_SANDBOX=$GG_TEST_SANDBOX (default bwrap: the jail is the proof that the toolchain is declared). */
export function sh(cwd: string, script: string, env: NodeJS.ProcessEnv = {}): Ran {
  const bin = ensureBin();
  const r = spawnSync('bash', ['-c', script], {
    cwd,
    env: {
      ...process.env,
      GG_DIR: '',
      GG_SANDBOX: process.env['GG_TEST_SANDBOX'] ?? 'bwrap',
      PATH: `${bin}:${process.env['PATH']}`,
      ...env,
    },
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function shOk(cwd: string, script: string, env: NodeJS.ProcessEnv = {}): string {
  const r = sh(cwd, script, env);
  if (r.status !== 0) throw new Error(`'${script}' failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

let binDir: string | undefined;
function ensureBin(): string {
  if (binDir) return binDir;
  binDir = tempDir('gg-bin-');
  fs.writeFileSync(path.join(binDir, 'gg'), `#!/bin/sh\nexec "${process.execPath}" "${GG}" "$@"\n`, { mode: 0o755 });
  fs.writeFileSync(
    path.join(binDir, 'gg-force-and-run'),
    `#!/bin/sh\nexec "${process.execPath}" "${GG_FORCE_AND_RUN}" "$@"\n`,
    { mode: 0o755 },
  );
  return binDir;
}

/** A temp project with the given files and an initialised .gg. */
export function cProject(files: Record<string, string>): string {
  const dir = tempDir('gg-infer-');
  writeFiles(dir, files);
  shOk(dir, 'gg init >/dev/null');
  return dir;
}

export interface ForceSummary {
  executed: number;
  cached: number;
  failed: number;
}

export function forceJson(dir: string, targets: string): ForceSummary {
  const out = shOk(dir, `gg force --sandbox=$GG_SANDBOX --json -j2 ${targets}`);
  return JSON.parse(out) as ForceSummary;
}

export function isPlaceholder(file: string): boolean {
  const head = fs.readFileSync(file).subarray(0, 40).toString('latin1');
  return head.startsWith('#!/usr/bin/env gg-force-and-run') || head.startsWith('OUTPUT_FORMAT(');
}

export function isElf(file: string): boolean {
  return fs.readFileSync(file).subarray(0, 4).toString('latin1') === '\x7fELF';
}

/** Every placeholder under `dir` (outside .gg), objects excluded unless asked. */
export function placeholdersIn(dir: string, withObjects = false): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name === '.gg' || e.name === '.git') continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (withObjects || !e.name.endsWith('.o')) && fs.statSync(p).size < 600 && isPlaceholder(p))
        out.push(p);
    }
  };
  walk(dir);
  return out;
}

/**
 * Force every program and library placeholder the build left, once per distinct placeholder; files that
 * are hard links of another (git's builtins) are linked again afterwards, as make did.
 */
export function forceTree(dir: string, sandbox = process.env['GG_TEST_SANDBOX'] ?? 'bwrap'): void {
  const firstByContent = new Map<string, string>();
  const dups: [string, string][] = [];
  for (const p of placeholdersIn(dir)) {
    const text = fs.readFileSync(p, 'latin1');
    const first = firstByContent.get(text);
    if (first === undefined) firstByContent.set(text, p);
    else dups.push([p, first]);
  }
  const targets = [...firstByContent.values()].map((p) => `'${path.relative(dir, p)}'`).join(' ');
  if (targets) shOk(dir, `gg force --sandbox=${sandbox} -s -j2 ${targets}`);
  for (const [p, first] of dups) {
    fs.rmSync(p);
    fs.linkSync(first, p);
  }
}

/**
 * A project from ../shared/tools/get-source ($GET_SOURCE, as bench/corpus.sh, for a checkout elsewhere) copied
 * to a temp dir, or undefined when it cannot be fetched.
 */
export function sourceCopy(name: string): string | undefined {
  const get = process.env['GET_SOURCE'] || path.resolve(REPO, '../shared/tools/get-source');
  const r = spawnSync(get, [name], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) {
    // On a developer's offline machine the test is skipped; in CI a missing project is a failure, never a skip.
    if (process.env['CI']) throw new Error(`get-source ${name} failed (${r.status}): ${r.stderr}`);
    return undefined;
  }
  const src = r.stdout.trim().split('\n').pop()!;
  const dir = tempDir(`gg-e2e-${name}-`);
  fs.cpSync(src, dir, { recursive: true });
  return dir;
}
