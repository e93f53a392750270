/**
 * The default sandbox: every thunk runs in a bubblewrap jail that holds only what it declares.
 *
 *   /                 a staged root (jail-roots.ts), read-only: absolute-path inputs at their paths + skeleton
 *   /gg/work          the host run directory, read-write: relative inputs (hard links the jail user cannot
 *                     modify), links, the start directory; outputs are left here
 *   /gg/obj/NAME      what @{GGHASH:NAME} names, read-only (and the function when it has no file name)
 *   /proc /dev /tmp   fresh procfs, the root's own few device nodes, a size-limited tmpfs
 *
 * New PID, IPC, UTS, network (loopback only) and cgroup namespaces in a reused user namespace
 * (jail-user-namespaces.ts); the program runs as uid 1000 with no capabilities, only its declared environment
 * (+ TZ=UTC and LANG=C unless declared), hostname `gg`. Limits: wall clock (the whole jail dies with its
 * PID namespace), memory and processes through a fresh cgroup per run (or rlimits when cgroups are not
 * writable), output through RLIMIT_FSIZE per file plus a watchdog on the working directory's total.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../errors.js';
import { placeholdersIn, replacePlaceholders } from '../ir/thunk.js';
import { JailCgroups, type JailCgroup, type JailCgroupCounters } from './jail-cgroups.js';
import { encodeRlimits, jailExecHelper, parseHelperReport, type HelperReport } from './jail-exec-helper.js';
import { JAIL_EXEC, JAIL_OBJ_DIR, JAIL_WORK_DIR, JailRoots } from './jail-roots.js';
import { JailUserNamespaces, type JailSlot } from './jail-user-namespaces.js';
import { Spawner, type ExtraFd, type Launched } from './spawner.js';
import { treeUsage } from './tree.js';
import type { FileNamer, LimitBroken, Sandbox, SandboxRequest, SandboxResult, StagedFile } from './sandbox.js';

export interface BwrapSandboxOptions {
  /** Where staged roots are kept: must be on the store's file system (hard links); see jail-home.ts. */
  rootsDir: string;
  /** Use cgroups for the memory and process limits when writable (default); false forces the rlimit fallback. */
  cgroups?: boolean;
  /** bubblewrap executable (default: found on PATH). */
  bwrap?: string;
  /** The store's hash cache: keeps blob names across the links that stage them (FileNamer.keepName). */
  files?: FileNamer;
  /** Where run directories go (outside the store: jail-home.ts); default: the cache's temp directory. */
  scratchDir?: string;
  /** Something about where the jail's directories are that the user should know (jail-home.ts). */
  notice?: string;
}

/** Child descriptors: 3 talks to the exec helper, 4 is the user namespace, 5 and 6 the cgroups, 7 --args, 8 info. */
const FD_REPORT = 3;
const FD_USERNS = 4;
const FD_ARGS = 7;
const FD_INFO = 8;
/** Above this size, bubblewrap's options go through --args (a file) rather than the command line. */
const ARGS_FILE_THRESHOLD = 64 * 1024;
const PIDS_POLL_FIRST_MS = 20;
const PIDS_POLL_MAX_MS = 320;
const OUTPUT_WATCH_FIRST_MS = 200;
const OUTPUT_WATCH_MAX_MS = 2000;
const MAX_TIMER_MS = 2 ** 31 - 1;
const ERRNO_NAMES: Record<number, string> = {
  2: 'ENOENT',
  8: 'ENOEXEC',
  13: 'EACCES',
  20: 'ENOTDIR',
  40: 'ELOOP',
  7: 'E2BIG',
};

let runCounter = 0;

export class BwrapSandbox implements Sandbox {
  readonly kind = 'bwrap';
  /** How the memory and process limits are enforced; a fallback is worth telling the user about. */
  readonly limitsMechanism: string;
  readonly notice: string | undefined;
  readonly scratchDir: string | undefined;
  /** Moves of jails' first processes into their slot's cgroups still under way (startBwrap). */
  private readonly earlyJoins = new Set<Promise<void>>();
  /** Starts bubblewrap, so the scheduler neither forks its own large process nor waits for the exec. */
  private readonly spawner = new Spawner();

  private constructor(
    private readonly bwrap: string,
    private readonly roots: JailRoots,
    private readonly userns: JailUserNamespaces,
    private readonly cgroups: JailCgroups | undefined,
    cgroupProblem: string | undefined,
    private readonly files: FileNamer | undefined,
    placesNotice: string | undefined,
    scratchDir: string | undefined,
  ) {
    this.scratchDir = scratchDir;
    this.limitsMechanism = cgroups ? `cgroup v${cgroups.version} (memory, pids)` : 'rlimits (RLIMIT_AS, RLIMIT_NPROC)';
    const notices = [
      cgroupProblem === undefined
        ? undefined
        : `memory and process limits use rlimits, not cgroups (${cgroupProblem}): a thunk breaking them fails as the program's own error, and memory counts address space`,
      placesNotice,
    ].filter((n) => n !== undefined);
    this.notice = notices.length > 0 ? notices.join('; ') : undefined;
  }

  /** Check once that bubblewrap can really run a jail here; GG_E_SANDBOX_UNAVAILABLE (with a hint) if not. */
  static async create(o: BwrapSandboxOptions): Promise<BwrapSandbox> {
    const helper = jailExecHelper();
    if (!helper)
      throw unavailable(`the jail's exec helper exists only for x86-64 so far (this machine is ${process.arch})`);
    if (process.getuid?.() !== 0)
      throw unavailable('the bubblewrap sandbox needs root (it maps each jail to a host uid of its own)');
    const bwrap = o.bwrap ?? findOnPath('bwrap');
    if (!bwrap)
      throw unavailable(
        'bubblewrap (bwrap) is not installed',
        'install it (Debian: apt-get install bubblewrap), or run with --sandbox=none',
      );
    let cgroups: JailCgroups | undefined;
    let problem: string | undefined;
    if (o.cgroups !== false) {
      const opened = JailCgroups.open();
      if (typeof opened === 'string') problem = opened;
      else cgroups = opened;
    } else {
      problem = 'disabled by the caller';
    }
    const sandbox = new BwrapSandbox(
      bwrap,
      new JailRoots(o.rootsDir, helper, o.files),
      new JailUserNamespaces(bwrap),
      cgroups,
      problem,
      o.files,
      o.notice,
      o.scratchDir,
    );
    try {
      await sandbox.probe();
    } catch (e) {
      await sandbox.close();
      throw e;
    }
    return sandbox;
  }

  /** Run the exec helper itself as a program in an empty jail: it reports in and exits 126 (no arguments). */
  private async probe(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(path.dirname(this.roots.dir), 'probe-'));
    try {
      const workDir = path.join(dir, 'work');
      fs.mkdirSync(workDir);
      const helper = path.join(this.roots.rootFor([]), JAIL_EXEC);
      let result: SandboxResult;
      try {
        result = await this.run({
          workDir,
          files: [],
          objects: new Map([['probe', helper]]),
          program: helper,
          args: ['probe'],
          envars: [],
          links: {},
          cwd: '',
          limits: { timeoutMs: 10_000, memoryBytes: 256 * 1024 ** 2, outputBytes: 1024 ** 2, maxProcesses: 16 },
          logFile: path.join(dir, 'log'),
        });
      } catch (e) {
        throw unavailable(`bubblewrap cannot run a jail here: ${(e as Error).message}`);
      }
      if (result.exitCode !== 126) {
        throw unavailable(
          `bubblewrap's trial jail ended with status ${result.exitCode}: ${fs.readFileSync(path.join(dir, 'log'), 'utf8').trim()}`,
        );
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  async run(req: SandboxRequest): Promise<SandboxResult> {
    const absolute: StagedFile[] = [];
    const relative: StagedFile[] = [];
    for (const f of req.files) (path.isAbsolute(f.filename) ? absolute : relative).push(f);
    // The function runs from where the thunk declares it, preferably at an absolute path, else from /gg/obj.
    const functionName = [...req.objects].find(([, host]) => host === req.program)?.[0] ?? 'function';
    const placed = req.files
      .filter((f) => f.name === functionName)
      .sort((a, b) => Number(path.isAbsolute(b.filename)) - Number(path.isAbsolute(a.filename)))[0];
    const jailProgram = !placed
      ? `${JAIL_OBJ_DIR}/${functionName}`
      : path.isAbsolute(placed.filename)
        ? path.posix.normalize(placed.filename)
        : path.posix.join(JAIL_WORK_DIR, placed.filename);
    const wanted = new Set<string>();
    for (const s of [...req.args, ...req.envars])
      for (const n of placeholdersIn(s))
        if (req.objects.has(n) || req.objects.has(stripTag(n))) wanted.add(stripTag(n));
    // A per-run /gg/obj hides the root's: it then holds the function too.
    if (!placed && wanted.size > 0) wanted.add(functionName);
    const view = req.view;
    if (view && relative.length > 0)
      throw new GgError('GG_E_INTERNAL', 'a run with a view of a tree declares no relative files');
    const viewDirs = view ? outermost(view.readOnly.map((d) => path.posix.normalize(d))) : [];
    const root = this.roots.rootFor(
      absolute,
      placed ? undefined : { name: functionName, hostPath: req.program },
      viewDirs.filter((d) => !d.startsWith('/tmp/')),
    );
    const slot = await this.userns.acquire();
    const objDir = `${req.workDir}.obj`;
    try {
      if (!view) this.prepareWorkDir(req, relative, slot);
      if (wanted.size > 0) {
        fs.mkdirSync(objDir, { recursive: true });
        for (const n of wanted) linkInput(req.objects.get(n) ?? req.program, path.join(objDir, n));
      }
      const limits = req.limits;
      const cgroup = this.cgroups?.slot(slot.index);
      // The program's processes count, and the helper (PID 1) that waits for them; bubblewrap's stay outside.
      await cgroup?.begin(limits.memoryBytes, limits.maxProcesses + 1);
      const sub = (s: string): string =>
        replacePlaceholders(s, (n) =>
          req.objects.has(n) || req.objects.has(stripTag(n)) ? `${JAIL_OBJ_DIR}/${stripTag(n)}` : `@{GGHASH:${n}}`,
        );
      const args = req.args.map(sub);
      const env = req.envars.map(sub);
      const declared = new Set(env.map((e) => e.slice(0, e.indexOf('='))));
      if (!declared.has('TZ')) env.push('TZ=UTC');
      if (!declared.has('LANG')) env.push('LANG=C');
      const options = [
        '--userns',
        String(FD_USERNS),
        // No --unshare-cgroup: the helper makes the cgroup namespace once it has joined the run's cgroup.
        '--unshare-pid',
        '--unshare-ipc',
        '--unshare-uts',
        '--unshare-net',
        // The exec helper is the jail's PID 1 and reaps it; bubblewrap's own would leave a zombie behind.
        '--as-pid-1',
        '--info-fd',
        String(FD_INFO),
        '--die-with-parent',
        '--new-session',
        '--hostname',
        'gg',
        '--ro-bind',
        root,
        '/',
        '--proc',
        '/proc',
        ...(this.roots.devTemplate
          ? ['--dev-bind', path.join(root, 'dev'), '/dev']
          : ['--dev', '/dev', '--chmod', '1777', '/dev/shm']),
        '--perms',
        '1777',
        '--size',
        String(limits.outputBytes),
        '--tmpfs',
        '/tmp',
        ...tmpInputBinds(root, absolute),
        ...(view
          ? [
              ...viewDirs.flatMap((d) => [...tmpParents(d), '--ro-bind', d, d]),
              '--ro-bind',
              view.tree,
              JAIL_WORK_DIR,
              ...view.writable.flatMap(([p, host]) => {
                const at = path.posix.resolve(JAIL_WORK_DIR, p);
                return [...tmpParents(at), '--bind', host, at];
              }),
            ]
          : ['--bind', req.workDir, JAIL_WORK_DIR]),
        ...(wanted.size > 0 ? ['--ro-bind', objDir, JAIL_OBJ_DIR] : []),
        '--chdir',
        path.posix.join(JAIL_WORK_DIR, req.cwd),
        '--clearenv',
        ...env.flatMap((e) => ['--setenv', e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
        // What the helper needs to make the cgroup namespace and switch to the jail user; switching drops all.
        '--cap-drop',
        'ALL',
        '--cap-add',
        'CAP_SETUID',
        '--cap-add',
        'CAP_SETGID',
        '--cap-add',
        'CAP_SYS_ADMIN',
      ];
      const command = [JAIL_EXEC, jailProgram, ...args];
      const outcome = await this.spawnJail(req, slot, cgroup, options, command);
      if (!outcome.report.started && outcome.limit === undefined) {
        throw new GgError(
          'GG_E_INFRA',
          `bubblewrap could not set up the jail (status ${outcome.exitCode})${logSince(req.logFile, outcome.logStart)}`,
          {
            hint: 'this is a fault of the machine, not of the thunk; check that bwrap works here (gg force --sandbox=none to bypass)',
          },
        );
      }
      if (outcome.report.execErrno !== undefined) {
        const errno = outcome.report.execErrno;
        fs.appendFileSync(
          req.logFile,
          `gg: the jail cannot execute ${jailProgram} (${ERRNO_NAMES[errno] ?? `errno ${errno}`})${errno === 2 ? ': a dynamically linked program needs its ELF interpreter and libraries declared (gg create-thunk --executable-file PATH)' : ''}\n`,
        );
      }
      if (!view) this.checkOutputDir(req);
      return {
        exitCode: outcome.exitCode,
        signal: outcome.signal,
        ...(outcome.limit ? { limit: outcome.limit } : {}),
        outputDir: path.join(req.workDir, req.cwd),
        wallMs: outcome.wallMs,
        ...(outcome.cpuMs === undefined ? {} : { cpuMs: outcome.cpuMs }),
      };
    } finally {
      if (wanted.size > 0) fs.rmSync(objDir, { recursive: true, force: true });
      this.userns.release(slot);
    }
  }

  /**
   * Place relative inputs, the start directory and then links in the host run directory, owned so that the
   * jail user may write there but not into the inputs (hard links to root-owned, read-only blobs). This runs
   * as root on the host: links are made last, so nothing is ever created through one (thunks whose names pass
   * through their own links are refused when loaded, validateThunk), and every directory is checked to be one.
   */
  private prepareWorkDir(req: SandboxRequest, relative: readonly StagedFile[], slot: JailSlot): void {
    const own = (p: string): void => fs.lchownSync(p, slot.hostId, slot.hostId);
    const real = new Set<string>([req.workDir]);
    const mkdirs = (dir: string): void => {
      if (real.has(dir)) return;
      mkdirs(path.dirname(dir));
      const st = fs.lstatSync(dir, { throwIfNoEntry: false });
      if (st === undefined) {
        fs.mkdirSync(dir);
        own(dir);
      } else if (!st.isDirectory()) {
        throw new GgError(
          'GG_E_THUNK_INVALID',
          `the thunk places something below '${path.relative(req.workDir, dir)}', which is not a directory`,
          {
            hint: 'declare each name once, and never both a file (or link) and something below it',
          },
        );
      }
      real.add(dir);
    };
    own(req.workDir);
    for (const f of relative) {
      const dest = path.join(req.workDir, f.filename);
      mkdirs(path.dirname(dest));
      if (this.files?.keepName) this.files.keepName(f.hostPath, () => linkInput(f.hostPath, dest));
      else linkInput(f.hostPath, dest);
    }
    mkdirs(path.join(req.workDir, req.cwd));
    for (const [name, target] of Object.entries(req.links)) {
      const p = path.join(req.workDir, name);
      mkdirs(path.dirname(p));
      fs.symlinkSync(target, p);
      own(p);
    }
  }

  /** Start bubblewrap, watch the limits while the jail runs, and say how it ended. */
  private async spawnJail(
    req: SandboxRequest,
    slot: JailSlot,
    cgroup: JailCgroup | undefined,
    options: string[],
    command: string[],
  ): Promise<JailOutcome> {
    const start = performance.now();
    const logStart = fs.statSync(req.logFile, { throwIfNoEntry: false })?.size ?? 0;
    const jail = this.startBwrap(req, slot, cgroup, options, command);
    const watch = new JailWatch(jail, req, slot, cgroup);
    const { code, signal, report, reapedCpuMs } = await jail.ended.finally(() => watch.stop());
    // Nothing outlives bubblewrap: the helper was PID 1 of the jail's namespace, whose end kills the rest.
    const counters = cgroup?.counters();
    return {
      exitCode: code,
      signal,
      ...watch.verdict(counters),
      report,
      wallMs: performance.now() - start,
      ...cpuOf(counters?.cpuUsec, reapedCpuMs),
      logStart,
    };
  }

  /**
   * bubblewrap with its descriptors: 3 a socket to the exec helper (rlimits in, report out), 4 the user
   * namespace, 5-6 the cgroups, 7 a file of options when they are long, 8 --info-fd (names the jail's PID 1).
   */
  private startBwrap(
    req: SandboxRequest,
    slot: JailSlot,
    cgroup: JailCgroup | undefined,
    options: string[],
    command: string[],
  ): StartedJail {
    const limits = req.limits;
    // RLIMIT_FSIZE just above the output limit: a file that reaches it proves the program tried to exceed it.
    // With cgroups, RLIMIT_AS and RLIMIT_NPROC stay as they are (raising one would need CAP_SYS_RESOURCE).
    const rlimits = encodeRlimits(
      limits.outputBytes + 1,
      cgroup ? undefined : limits.memoryBytes,
      cgroup ? undefined : limits.maxProcesses + 1,
    );
    let argsFile: string | undefined;
    if (options.reduce((n, a) => n + a.length + 1, 0) > ARGS_FILE_THRESHOLD) {
      argsFile = `${req.workDir}.bwrap-args-${runCounter++}`;
      fs.writeFileSync(argsFile, options.map((a) => `${a}\0`).join(''), { mode: 0o600 });
      options = ['--args', String(FD_ARGS)];
    }
    const cgFds = cgroup?.procsFds ?? [];
    // The helper opens the namespace and cgroup files we hold through /proc, not by a path that may since name
    // something else.
    const ours = (fd: number | undefined, write = false): ExtraFd =>
      fd === undefined ? 'ignore' : { open: `/proc/${process.pid}/fd/${fd}`, write };
    const reportChunks: Buffer[] = [];
    let info = '';
    let jailInit: number | undefined;
    const launched = this.spawner.launch({
      file: this.bwrap,
      args: [...options, '--', ...command],
      cwd: '/',
      env: {},
      logFile: req.logFile,
      fds: [
        'pipe',
        ours(slot.usernsFd),
        ours(cgFds[0], true),
        ours(cgFds[1], true),
        argsFile ? { open: argsFile } : 'ignore',
        'pipe',
      ],
      input: { fd: FD_REPORT, data: rlimits },
      cpu: true,
      onData: (fd, d) => {
        if (fd === FD_REPORT) {
          reportChunks.push(d);
          return;
        }
        info += d.toString();
        if (jailInit !== undefined) return;
        jailInit = Number(/"child-pid":\s*(\d+)/.exec(info)?.[1]) || undefined;
        // The helper's own join of the slot's cgroups (which stays the one that counts) waits for an RCU grace
        // period (~10 ms, cgroup v1 here) when no other move into a cgroup came just before. Moving the jail's
        // first process from here, as soon as bubblewrap names it, starts that wait while bubblewrap is still
        // mounting, and the helper's join then finds it (nearly) over. The move is asynchronous (libuv's
        // threads), its failure harmless: a process that ended is not found, and its pid is not reused before
        // the kernel has handed out every other free pid.
        for (const cgFd of jailInit === undefined ? [] : cgFds) {
          const join = new Promise<void>((resolve) => fs.write(cgFd, String(jailInit), () => resolve()));
          this.earlyJoins.add(join);
          void join.then(() => this.earlyJoins.delete(join));
        }
      },
    });
    const ended = launched.ended
      .then(
        ({ code, signal, cpuMs }) => ({
          code,
          signal,
          report: parseHelperReport(Buffer.concat(reportChunks)),
          ...(cpuMs === undefined ? {} : { reapedCpuMs: cpuMs }),
        }),
        (e: unknown) => {
          throw startFailure(e);
        },
      )
      .finally(() => {
        if (argsFile) fs.rmSync(argsFile, { force: true });
      });
    return {
      launched,
      ended,
      get jailInit() {
        return jailInit;
      },
    };
  }

  /** The start directory must still be a real directory inside the run directory, not a planted symlink. */
  private checkOutputDir(req: SandboxRequest): void {
    let p = req.workDir;
    for (const part of req.cwd.split('/').filter(Boolean)) {
      p = path.join(p, part);
      if (!fs.lstatSync(p, { throwIfNoEntry: false })?.isDirectory()) {
        throw new GgError(
          'GG_E_THUNK_FAILED',
          `the program replaced its start directory '${req.cwd}' with something other than a directory`,
          {
            hint: 'a thunk must leave its outputs in its start directory',
          },
        );
      }
    }
    // Outputs enter the store as root's files: a later jail must not own (and so be able to chmod) them.
    for (const e of fs.readdirSync(p, { withFileTypes: true }))
      if (e.isFile()) fs.lchownSync(path.join(p, e.name), 0, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.earlyJoins); // (they write to the cgroups' descriptors, closed below)
    await this.spawner.close();
    this.userns.close();
    this.cgroups?.closeSync();
  }
}

/** The jail's CPU time: its cgroup's count (v2), else what reaping it added to the spawner's (reaped-cpu.ts). */
function cpuOf(cgroupUsec: number | undefined, reaped: number | undefined): { cpuMs?: number } {
  if (cgroupUsec !== undefined && cgroupUsec > 0) return { cpuMs: cgroupUsec / 1000 };
  return reaped === undefined ? {} : { cpuMs: reaped };
}

interface JailOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  limit?: LimitBroken;
  report: HelperReport;
  wallMs: number;
  cpuMs?: number;
  logStart: number;
}

interface StartedJail {
  /** bubblewrap, started by the spawner. */
  launched: Launched;
  /** The jail's PID 1 (the exec helper), once bubblewrap has named it on --info-fd. */
  readonly jailInit: number | undefined;
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; report: HelperReport; reapedCpuMs?: number }>;
}

function startFailure(e: unknown): GgError {
  return new GgError('GG_E_INFRA', `could not start the jail: ${(e as Error).message}`, { retryable: true, cause: e });
}

/** The limits of one running jail: wall clock, processes (cgroup), output; abort; and the verdict at the end. */
class JailWatch {
  private limit: LimitBroken | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  /** The pending check of each polled limit. */
  private readonly polls = new Set<NodeJS.Timeout>();
  private readonly onAbort = (): void => this.kill('cancelled');

  constructor(
    private readonly jail: StartedJail,
    private readonly req: SandboxRequest,
    private readonly slot: JailSlot,
    private readonly cgroup: JailCgroup | undefined,
  ) {
    // Node's timers hold at most 2^31-1 ms (a larger delay fires at once): numbers are range-checked where
    // read, and clamped here too.
    // (0: no time limit; a thunk's own timeout is the scheduler's straggler hint, never a kill.)
    this.timer =
      req.limits.timeoutMs > 0
        ? setTimeout(() => this.kill('timeout'), Math.min(req.limits.timeoutMs, MAX_TIMER_MS))
        : undefined;
    if (req.abort?.aborted) this.onAbort();
    req.abort?.addEventListener('abort', this.onAbort, { once: true });
    // A refused fork means the process limit was hit: stop the jail rather than let it spin until the timeout.
    if (cgroup) this.poll(() => cgroup.forksRefused() > 0, 'processes', PIDS_POLL_FIRST_MS, PIDS_POLL_MAX_MS);
    this.poll(() => this.outputOver(), 'output', OUTPUT_WATCH_FIRST_MS, OUTPUT_WATCH_MAX_MS);
  }

  /**
   * Checks a limit after `delay`, then ever more rarely (the delay doubles up to `max`) until it finds it
   * broken: a compile of a few hundred ms is looked at a few times, a long run still within `max` of its break.
   */
  private poll(broken: () => boolean, why: LimitBroken, delay: number, max: number): void {
    const t = setTimeout(() => {
      this.polls.delete(t);
      if (broken()) this.kill(why);
      else this.poll(broken, why, Math.min(delay * 2, max), max);
    }, delay);
    this.polls.add(t);
  }

  private outputOver(): boolean {
    return treeUsage(this.req.workDir, this.slot.hostId).bytes > this.req.limits.outputBytes;
  }

  /**
   * bubblewrap names the jail's PID 1 on --info-fd. Killing it ends the PID namespace with every process in
   * it, and bubblewrap (which waits for it) reaps it and exits. Killing bubblewrap instead would orphan it.
   */
  kill(why: LimitBroken): void {
    this.limit ??= why;
    try {
      if (this.jail.jailInit !== undefined) process.kill(this.jail.jailInit, 'SIGKILL');
      else this.jail.launched.kill(); // bubblewrap's group: it has not named the jail's PID 1 yet
    } catch {
      // gone already
    }
    this.cgroup?.killAll();
  }

  stop(): void {
    clearTimeout(this.timer);
    for (const t of this.polls) clearTimeout(t);
    this.polls.clear();
    this.req.abort?.removeEventListener('abort', this.onAbort);
  }

  /** Which limit the run broke, if any: also when the program survived it (a shell goes on after `dd` dies of SIGXFSZ). */
  verdict(counters: JailCgroupCounters | undefined): { limit?: LimitBroken } {
    let broken = this.limit;
    if (broken === undefined && counters && counters.forksRefused > 0) broken = 'processes';
    if (broken === undefined && counters && counters.oomKills > 0) broken = 'memory';
    if (broken === undefined && this.outputOver()) broken = 'output';
    return broken ? { limit: broken } : {};
  }
}

/** Inputs under /tmp, bound one by one into the jail's fresh tmpfs, their directories made traversable. */
function tmpInputBinds(root: string, absolute: readonly StagedFile[]): string[] {
  const out: string[] = [];
  const dirs = new Set<string>();
  for (const f of absolute) {
    const filename = path.posix.normalize(f.filename);
    if (!filename.startsWith('/tmp/')) continue;
    const parents: string[] = [];
    for (let d = path.posix.dirname(filename); d !== '/tmp'; d = path.posix.dirname(d)) parents.unshift(d);
    for (const d of parents) {
      if (dirs.has(d)) continue;
      dirs.add(d);
      out.push('--perms', '0755', '--dir', d);
    }
    out.push('--ro-bind', path.join(root, filename), filename);
  }
  return out;
}

/** Directories of a list that are not below another one of it (one bind covers them). */
function outermost(dirs: readonly string[]): string[] {
  const sorted = [...new Set(dirs)].sort();
  return sorted.filter((d, i) => !sorted.slice(0, i).some((o) => d.startsWith(o === '/' ? o : `${o}/`)));
}

/** A bind below /tmp (a fresh tmpfs in the jail) needs its parents made there first. */
function tmpParents(dir: string): string[] {
  if (!dir.startsWith('/tmp/')) return [];
  const parents: string[] = [];
  for (let d = path.posix.dirname(dir); d !== '/tmp'; d = path.posix.dirname(d)) parents.unshift(d);
  return parents.flatMap((d) => ['--perms', '0755', '--dir', d]);
}

function stripTag(name: string): string {
  const i = name.indexOf('#');
  return i < 0 ? name : name.slice(0, i);
}

function linkInput(src: string, dest: string): void {
  try {
    fs.linkSync(src, dest);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code === 'EXDEV' || code === 'EMLINK' || code === 'EPERM') fs.copyFileSync(src, dest);
    else throw e;
  }
}

function logSince(logFile: string, start: number): string {
  try {
    const text = fs.readFileSync(logFile).subarray(start).toString('utf8').trim();
    return text ? `: ${text.split('\n').slice(-5).join(' / ')}` : '';
  } catch {
    return '';
  }
}

function findOnPath(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir || '.', cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

function unavailable(
  message: string,
  hint = 'run as root on Linux with bubblewrap installed, or pass --sandbox=none to run thunks unisolated',
): GgError {
  return new GgError('GG_E_SANDBOX_UNAVAILABLE', message, { hint });
}

// Exported for the benchmark and tests: the bwrap version in use.
export function bwrapVersion(bwrap = findOnPath('bwrap')): string | undefined {
  if (!bwrap) return undefined;
  const r = spawnSync(bwrap, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
