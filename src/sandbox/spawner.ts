/**
 * Starting programs from a small helper process instead of the scheduler itself. fork() costs grow with the
 * forking process's memory, and the scheduler holds the whole graph; libuv's spawn also blocks its caller until
 * the child has exec'd, ~10-14 ms per program on a busy 2-core machine, which the scheduler no longer waits out.
 * The helper is spawner.c (posix_spawn: no memory copied at all) where it was built, else spawner-child.ts (a
 * Node process, whose own forks still copy its ~50 MB of page tables). Unsandboxed runs (run: timeouts and
 * aborts kill the program's whole process group) and bubblewrap jails (launch: extra descriptors, relayed pipes,
 * reaped CPU) both start here.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { GgError } from '../errors.js';
import { spawnError, type ProcessOutcome, type RunProcessOptions } from './process-runner.js';
import { encodeRequest, ReplyDecoder } from './spawner-native.js';

/**
 * A descriptor above 2 of the program: a file the helper opens by path (read-only unless `write`, never created
 * or truncated; another process's open descriptor is reachable as /proc/PID/fd/N), a pipe whose data the
 * helper relays, or none.
 */
export type ExtraFd = { open: string; write?: boolean } | 'pipe' | 'ignore';

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
      /** Descriptors 3, 4, ... of the program. */
      fds?: ExtraFd[];
      /** Bytes (base64) written to one of the program's pipes as it starts. */
      input?: { fd: number; data: string };
      /** Report the CPU time the program and the descendants it waited for took (reaped-cpu.ts). */
      cpu?: boolean;
    }
  | { t: 'kill'; id: number };

export type SpawnerReply =
  | { t: 'started'; id: number; pid: number }
  | { t: 'data'; id: number; fd: number; data: string }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null; cpuMs?: number }
  | { t: 'error'; id: number; errno: string; message: string };

/** A request and a reply as the Spawner handles them, whichever helper carries them: bytes as bytes. */
export type Request =
  | (Omit<Extract<SpawnerRequest, { t: 'run' }>, 'input'> & { input?: { fd: number; data: Buffer } })
  | Extract<SpawnerRequest, { t: 'kill' }>;
export type Reply = Exclude<SpawnerReply, { t: 'data' }> | { t: 'data'; id: number; fd: number; data: Buffer };

/** What launch takes: a program and its log (stdout and stderr) as run takes them, and what it gets beyond them. */
export interface LaunchOptions extends Omit<RunProcessOptions, 'timeoutMs' | 'abort'> {
  fds?: ExtraFd[];
  /** Bytes written to one of the pipes as the program starts: a few KiB at most (the native helper never waits). */
  input?: { fd: number; data: Buffer };
  cpu?: boolean;
  /** Data the program wrote to one of its pipes, in order. */
  onData?: (fd: number, data: Buffer) => void;
}

export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  cpuMs?: number;
}

export interface Launched {
  /**
   * Settles once the program has exited and its pipes are closed. Rejects with an Error whose `code` is the
   * errno when it could not start, or EAGAIN when the helper ended under it.
   */
  ended: Promise<Ended>;
  /** Kill the program's process group (it leads its own), now or as soon as it has started. */
  kill(): void;
}

interface Pending {
  file: string;
  /** Whether the helper said anything of this run. */
  heard?: boolean;
  /** The program's process group, once started: killed here if the helper dies under it. */
  pid?: number;
  /** The run's log, the program's stdout and stderr: finds a program the helper started but never reported. */
  logFile: string;
  onData?: (fd: number, data: Buffer) => void;
  resolve: (r: Ended) => void;
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
/** The native helper (spawner.c), built with the host's C compiler where there is one (scripts/build-native.mjs). */
export const NATIVE_SPAWNER = fileURLToPath(new URL('../../bin/gg-spawner', import.meta.url));

/** Which helper starts the programs: the native one where it was built (GG_SPAWNER=node: the Node one). */
export type HelperKind = 'native' | 'node';

function nativeBuilt(): boolean {
  try {
    fs.accessSync(NATIVE_SPAWNER, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** One helper process and the way to talk to it. */
interface Helper {
  process: ChildProcess;
  send(m: Request): void;
  /** Whether requests still reach it. */
  readonly open: boolean;
  setRef(on: boolean): void;
  /** Closes our end of its channel: it exits, killing what still runs. */
  end(): void;
  /** Calls back once the helper is gone and everything it said was handled. */
  onGone(f: (abnormal: boolean) => void): void;
}

function nodeHelper(onReply: (m: Reply) => void): Helper {
  // Without NODE_EXTRA_CA_CERTS: Node 20 would parse that file as the helper starts (~50 ms of CPU), and the
  // helper makes no TLS connection; the programs it starts get their own declared environment anyway.
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: undefined };
  const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [], env });
  child.on('message', (m: SpawnerReply) => onReply(m.t === 'data' ? { ...m, data: Buffer.from(m.data, 'base64') } : m));
  return {
    process: child,
    send: (m) =>
      child.send(m.t === 'run' && m.input ? { ...m, input: { ...m.input, data: m.input.data.toString('base64') } } : m),
    get open() {
      return child.connected;
    },
    setRef: (on) => {
      for (const h of [child, child.channel])
        if (on) h?.ref();
        else h?.unref();
    },
    end: () => {
      if (child.connected) child.disconnect();
    },
    onGone: (f) => child.on('exit', (code, signal) => f(code !== 0 || signal !== null)),
  };
}

function nativeHelper(onReply: (m: Reply) => void, fileOf: (id: number) => string | undefined): Helper {
  const child = spawn(NATIVE_SPAWNER, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const stdin = child.stdin as Socket;
  const stdout = child.stdout as Socket;
  const decoder = new ReplyDecoder(fileOf);
  stdout.on('data', (d: Buffer) => {
    for (const m of decoder.push(d)) onReply(m);
  });
  stdin.on('error', () => {}); // it ended: 'close' fails what was pending
  let gone: ((abnormal: boolean) => void) | undefined;
  let once = false;
  const settle = (abnormal: boolean): void => {
    if (once) return;
    once = true;
    gone?.(abnormal);
  };
  // 'close', not 'exit': every reply it wrote before it ended must be handled first.
  child.on('close', (code, signal) => settle(code !== 0 || signal !== null));
  child.on('error', () => settle(true)); // it could not start
  return {
    process: child,
    send: (m) => stdin.write(encodeRequest(m)),
    get open() {
      return stdin.writable;
    },
    setRef: (on) => {
      for (const h of [child, stdin, stdout])
        if (on) h.ref();
        else h.unref();
    },
    end: () => stdin.end(),
    onGone: (f) => (gone = f),
  };
}

export class Spawner {
  private helper: Helper | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** `native` throws when the binary was not built; by default it is used where it was. */
  constructor(private kind: HelperKind = process.env.GG_SPAWNER === 'node' || !nativeBuilt() ? 'node' : 'native') {
    if (kind === 'native' && !nativeBuilt())
      throw new GgError('GG_E_INFRA', `the native spawner ${NATIVE_SPAWNER} is missing`, {
        hint: 'npm run build builds it with the host C compiler (cc, or $CC)',
      });
  }

  private onReply(m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    p.heard = true;
    if (m.t === 'started') {
      p.pid = m.pid;
      return;
    }
    if (m.t === 'data') {
      p.onData?.(m.fd, m.data);
      return;
    }
    this.pending.delete(m.id);
    this.refIfBusy();
    if (m.t === 'exit')
      p.resolve({ code: m.code, signal: m.signal, ...(m.cpuMs === undefined ? {} : { cpuMs: m.cpuMs }) });
    else p.reject(Object.assign(new Error(m.message), { code: m.errno }));
  }

  private start(): Helper {
    const helper =
      this.kind === 'native'
        ? nativeHelper(
            (m) => this.onReply(m),
            (id) => this.pending.get(id)?.file,
          )
        : nodeHelper((m) => this.onReply(m));
    helper.onGone((abnormal) => {
      if (this.helper === helper) this.helper = undefined;
      // A native helper that dies before a word about anything it was asked (a binary built for another
      // machine, say) is not tried again by this spawner: the Node one takes over.
      const pending = [...this.pending.values()];
      if (abnormal && this.kind === 'native' && pending.length > 0 && !pending.some((p) => p.heard)) this.kind = 'node';
      for (const p of pending) {
        // A helper killed outright (OOM killer, SIGKILL) cannot kill what it started in their own groups.
        if (p.pid !== undefined) killGroup(p.pid);
        else killHoldersOf(p.logFile);
        p.reject(Object.assign(new Error('the spawner process ended'), { code: 'EAGAIN' }));
      }
      this.pending.clear();
    });
    return helper;
  }

  /** Keep the process alive only while programs run, so an idle spawner never holds the CLI open. */
  private refIfBusy(): void {
    this.helper?.setRef(this.pending.size > 0);
  }

  /** Start a program; the caller watches its limits. */
  launch(o: LaunchOptions): Launched {
    this.helper ??= this.start();
    const helper = this.helper;
    const id = this.nextId++;
    const ended = new Promise<Ended>((resolve, reject) =>
      this.pending.set(id, {
        resolve,
        reject,
        file: o.file,
        logFile: o.logFile,
        ...(o.onData ? { onData: o.onData } : {}),
      }),
    );
    this.refIfBusy();
    helper.send({
      t: 'run',
      id,
      file: o.file,
      args: o.args,
      argv0: o.argv0 ?? o.file,
      cwd: o.cwd,
      env: o.env,
      logFile: o.logFile,
      ...(o.fds ? { fds: o.fds } : {}),
      ...(o.input ? { input: o.input } : {}),
      ...(o.cpu ? { cpu: true } : {}),
    } satisfies Request);
    return {
      ended,
      // A helper that is gone took its runs with it (or its end rejects them): nothing left to kill.
      kill: () => {
        if (helper.open) helper.send({ t: 'kill', id } satisfies Request);
      },
    };
  }

  /** Run a program to its end, killing its process group on a timeout or an abort. */
  run(o: RunProcessOptions): Promise<ProcessOutcome> {
    const started = performance.now();
    const launched = this.launch(o);
    let limit: ProcessOutcome['limit'];
    const kill = (why: 'timeout' | 'cancelled'): void => {
      limit ??= why;
      launched.kill();
    };
    const timer = o.timeoutMs > 0 ? setTimeout(() => kill('timeout'), o.timeoutMs) : undefined;
    const onAbort = (): void => kill('cancelled');
    if (o.abort?.aborted) onAbort();
    o.abort?.addEventListener('abort', onAbort, { once: true });
    return launched.ended
      .then(
        ({ code, signal }) => ({
          exitCode: code,
          signal,
          ...(limit ? { limit } : {}),
          wallMs: performance.now() - started,
        }),
        (e: unknown) => {
          throw spawnError(e, 'program');
        },
      )
      .finally(() => {
        clearTimeout(timer);
        o.abort?.removeEventListener('abort', onAbort);
      });
  }

  /**
   * Lets the helper go (it exits when its channel closes) and waits for it: a helper left to exit after us
   * would be reaped by init, and the CPU of every program it reaped would be missing from ours (what `time`
   * or a benchmark's shell counts for gg).
   */
  close(): Promise<void> {
    const helper = this.helper;
    this.helper = undefined;
    const child = helper?.process;
    if (!helper || !child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    helper.setRef(true);
    helper.end();
    return exited;
  }
}
