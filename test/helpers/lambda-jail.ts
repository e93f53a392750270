/**
 * A jail that reproduces AWS Lambda's constraints for the gg function: no user namespaces (bubblewrap's
 * --disable-userns), a non-root uid, a root holding only Node (at /var/lang/bin/node, with the C libraries Node
 * itself needs, as Lambda's base image has) and the unzipped deployment package at /var/task (read-only), and
 * a writable /tmp. No compiler, binutils or headers: a thunk's toolchain must come from the store.
 * `LambdaJail` is one warm execution environment: invocations go in one at a time (jail-driver.mjs).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { REPO, tempDir } from './cli.js';
import { writeZipTo } from './lambda-package.js';

export interface JailReply {
  response?: unknown;
  functionError?: string;
  uid: number;
  hostToolchain: string[];
  writable: string[];
  leftovers: string[];
}

/** Node's own shared libraries (what `ld.so --list` resolves), bound at their paths. */
function nodeLibraries(): string[] {
  const r = spawnSync('ldd', [fs.realpathSync(process.execPath)], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

export class LambdaJail {
  private readonly child: ChildProcess;
  private readonly replies: ((r: JailReply) => void)[] = [];
  private readonly stderr: string[] = [];
  readonly taskDir: string;

  constructor(env: Record<string, string>) {
    this.taskDir = tempDir('gg-lambda-task-');
    writeZipTo(this.taskDir);
    const binds: string[] = [];
    for (const lib of nodeLibraries()) binds.push('--ro-bind', lib, lib);
    const real = (p: string): string => fs.realpathSync(p);
    for (const lib of nodeLibraries()) if (real(lib) !== lib) binds.push('--ro-bind', real(lib), real(lib));
    const args = [
      '--unshare-user',
      '--disable-userns',
      '--uid',
      '1000',
      '--gid',
      '1000',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--die-with-parent',
      '--new-session',
      '--ro-bind',
      real(process.execPath),
      '/var/lang/bin/node',
      ...binds,
      '--ro-bind',
      this.taskDir,
      '/var/task',
      '--ro-bind',
      path.join(REPO, 'test/fixtures/lambda'),
      '/var/runtime',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--tmpfs',
      '/tmp',
      '--clearenv',
      ...Object.entries({ PATH: '/var/lang/bin:/usr/bin:/bin', HOME: '/tmp', ...env }).flatMap(([k, v]) => [
        '--setenv',
        k,
        v,
      ]),
      '--remount-ro',
      '/',
      '--chdir',
      '/var/task',
      '/var/lang/bin/node',
      '/var/runtime/jail-driver.mjs',
    ];
    this.child = spawn('bwrap', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    readline
      .createInterface({ input: this.child.stdout! })
      .on('line', (line) => this.replies.shift()?.(JSON.parse(line) as JailReply));
    this.child.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    this.child.on('exit', (code) => {
      for (const r of this.replies.splice(0))
        r({
          functionError: `the jail exited (${code}): ${this.stderr.join('')}`,
          uid: -1,
          hostToolchain: [],
          writable: [],
          leftovers: [],
        });
    });
  }

  invoke(event: unknown): Promise<JailReply> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.child.stdin!.write(JSON.stringify(event) + '\n');
    });
  }

  async stop(): Promise<void> {
    const exited = this.child.exitCode !== null ? Promise.resolve() : new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
    fs.rmSync(this.taskDir, { recursive: true, force: true });
  }
}
