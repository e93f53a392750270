/**
 * Starting unsandboxed programs from a small helper process instead of the scheduler itself. fork() costs grow
 * with the forking process's memory, and the scheduler holds the whole graph: a second Node process with a small
 * heap forks cheaply and runs on the other core while the scheduler stages and records the next thunks.
 * Same contract as runProcess (timeouts and aborts kill the program's whole process group).
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnError, type ProcessOutcome, type RunProcessOptions } from './process-runner.js';

export type SpawnerRequest =
  | {
      t: 'run';
      id: number;
      file: string;
      args: string[];
      argv0: string;
      cwd: string;
      env: Record<string, string>;
      logFile: string;
    }
  | { t: 'kill'; id: number };

export type SpawnerReply =
  | { t: 'started'; id: number; pid: number }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { t: 'error'; id: number; errno: string; message: string };

interface Pending {
  /** The program's process group, once started: killed here if the helper dies under it. */
  pid?: number;
  /** The run's log, the program's stdout and stderr: finds a program the helper started but never reported. */
  logFile: string;
  resolve: (r: { code: number | null; signal: NodeJS.Signals | null }) => void;
  reject: (e: Error) => void;
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Kills every process (and the group it leads) that holds `file` open. A helper killed between starting a
 * program and reporting its pid leaves that program running in its own group, unknown to us; its stdout is the
 * run's own log file, which nothing else holds, so the holders of that file are exactly what is left of the run.
 */
function killHoldersOf(file: string): void {
  let target: fs.Stats;
  try {
    target = fs.statSync(file);
  } catch {
    return; // never opened: the program never started
  }
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to see
    }
    const holds = fds.some((fd) => {
      try {
        const s = fs.statSync(`/proc/${pid}/fd/${fd}`);
        return s.ino === target.ino && s.dev === target.dev;
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    killGroup(pid);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const CHILD = fileURLToPath(new URL('./spawner-child.js', import.meta.url));

export class Spawner {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private start(): ChildProcess {
    // Without NODE_EXTRA_CA_CERTS: Node 20 would parse that file as the helper starts (~50 ms of CPU), and the
    // helper makes no TLS connection; the programs it starts get their own declared environment anyway.
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: undefined };
    const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [], env });
    child.on('message', (m: SpawnerReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.t === 'started') {
        p.pid = m.pid;
        return;
      }
      this.pending.delete(m.id);
      this.refIfBusy();
      if (m.t === 'exit') p.resolve({ code: m.code, signal: m.signal });
      else p.reject(spawnError(Object.assign(new Error(m.message), { code: m.errno }), 'program'));
    });
    child.on('exit', () => {
      this.child = undefined;
      for (const p of this.pending.values()) {
        // A helper killed outright (OOM killer, SIGKILL) cannot kill what it started in their own groups.
        if (p.pid !== undefined) killGroup(p.pid);
        else killHoldersOf(p.logFile);
        p.reject(spawnError(Object.assign(new Error('the spawner process ended'), { code: 'EAGAIN' }), 'program'));
      }
      this.pending.clear();
    });
    return child;
  }

  /** Keep the process alive only while programs run, so an idle spawner never holds the CLI open. */
  private refIfBusy(): void {
    if (!this.child) return;
    if (this.pending.size > 0) {
      this.child.ref();
      this.child.channel?.ref();
    } else {
      this.child.unref();
      this.child.channel?.unref();
    }
  }

  run(o: RunProcessOptions): Promise<ProcessOutcome> {
    const started = performance.now();
    this.child ??= this.start();
    const child = this.child;
    const id = this.nextId++;
    let limit: ProcessOutcome['limit'];
    const kill = (why: 'timeout' | 'cancelled'): void => {
      limit ??= why;
      // A helper that is gone took its runs with it (or its exit rejects them): nothing left to kill.
      if (child.connected) child.send({ t: 'kill', id } satisfies SpawnerRequest);
    };
    const timer = o.timeoutMs > 0 ? setTimeout(() => kill('timeout'), o.timeoutMs) : undefined;
    const onAbort = (): void => kill('cancelled');
    if (o.abort?.aborted) onAbort();
    o.abort?.addEventListener('abort', onAbort, { once: true });
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) =>
      this.pending.set(id, { resolve, reject, logFile: o.logFile }),
    );
    this.refIfBusy();
    child.send({
      t: 'run',
      id,
      file: o.file,
      args: o.args,
      argv0: o.argv0 ?? o.file,
      cwd: o.cwd,
      env: o.env,
      logFile: o.logFile,
    } satisfies SpawnerRequest);
    return done
      .then(({ code, signal }) => ({
        exitCode: code,
        signal,
        ...(limit ? { limit } : {}),
        wallMs: performance.now() - started,
      }))
      .finally(() => {
        clearTimeout(timer);
        o.abort?.removeEventListener('abort', onAbort);
      });
  }

  close(): void {
    this.child?.disconnect();
    this.child = undefined;
  }
}
