/**
 * Memory and process-count limits for jails through control groups: one cgroup per jail slot, reused by the
 * slot's runs (creating and removing a memory cgroup per run costs ~0.3-3 ms), created below the cgroup this
 * process is already in, so that the jails stay inside whatever accounting the machine applies to us. cgroup v1 (a `memory` and a `pids` hierarchy) and v2 (when
 * our cgroup already delegates `memory` and `pids` to its children) are supported. When neither is writable
 * the sandbox falls back to rlimits and says so (see BwrapSandbox).
 */
import fs from 'node:fs';
import path from 'node:path';

type Controller = 'memory' | 'pids';

interface Hierarchy {
  version: 1 | 2;
  /** Directory of the cgroup this process is in, per controller (the same directory for v2). */
  own: Record<Controller, string>;
}

export interface JailCgroupCounters {
  /** Processes the kernel OOM-killed for breaking the memory limit. */
  oomKills: number;
  /** Forks refused for breaking the process limit. */
  forksRefused: number;
  /** CPU time used, in microseconds (cgroup v2's cpu.stat; 0 where the kernel does not count it). */
  cpuUsec: number;
}

/** The cgroup(s) of one slot: `cgroup.procs` to join, limits, counters, and cleanup. */
export interface JailCgroup {
  /** `cgroup.procs` of each hierarchy, open for writing: the jail's exec helper joins by writing "0". */
  procsFds: number[];
  /** Set the limits for the next run and start its counters from zero (the kernel's never go back). */
  begin(memoryBytes: number, maxProcesses: number): Promise<void>;
  /** Counts since begin(). */
  counters(): JailCgroupCounters;
  /** Forks refused since begin(): the one counter polled while a jail runs. */
  forksRefused(): number;
  /** SIGKILL every process still inside. */
  killAll(): void;
}

export class JailCgroups {
  private readonly bases: Record<Controller, string>;
  private readonly slots = new Map<number, JailCgroup>();
  private readonly fds: number[] = [];

  private constructor(private readonly h: Hierarchy) {
    const name = `gg-ts-${process.pid}`;
    this.bases = { memory: path.join(h.own.memory, name), pids: path.join(h.own.pids, name) };
  }

  get version(): 1 | 2 {
    return this.h.version;
  }

  /** Usable cgroups, or the reason there are none. */
  static open(): JailCgroups | string {
    let h: Hierarchy | string;
    try {
      h = findHierarchy();
    } catch (e) {
      return `cannot read this process's cgroups (${(e as Error).message})`;
    }
    if (typeof h === 'string') return h;
    removeStale(h);
    const cg = new JailCgroups(h);
    try {
      for (const c of ['memory', 'pids'] as const) fs.mkdirSync(cg.bases[c], { recursive: true });
      if (h.version === 2) fs.writeFileSync(path.join(cg.bases.memory, 'cgroup.subtree_control'), '+memory +pids');
      // A trial proves we may create, limit and remove cgroups here.
      const trial = cg.create('trial');
      trial.setLimits(64 * 1024 * 1024, 8);
      trial.remove();
    } catch (e) {
      cg.closeSync();
      return `cgroups below ${h.own.memory} are not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
    }
    return cg;
  }

  slot(index: number): JailCgroup {
    let cg = this.slots.get(index);
    if (!cg) {
      cg = this.slotCgroup(index);
      this.slots.set(index, cg);
    }
    return cg;
  }

  private slotCgroup(index: number): JailCgroup {
    const g = this.create(`slot-${index}`);
    let limits = '';
    let base: JailCgroupCounters = { oomKills: 0, forksRefused: 0, cpuUsec: 0 };
    const procsFds = g.procsFiles.map((f) => fs.openSync(f, fs.constants.O_WRONLY));
    this.fds.push(...procsFds);
    return {
      procsFds,
      async begin(memoryBytes: number, maxProcesses: number): Promise<void> {
        // A previous run's processes are gone with its PID namespace; make sure before counting anew.
        for (let attempt = 0; !g.empty(); attempt++) {
          if (attempt === 50) throw new Error(`processes of an earlier jail do not leave ${g.procsFiles[0]}`);
          g.killAll();
          await new Promise((r) => setTimeout(r, 10));
        }
        if (limits !== `${memoryBytes}/${maxProcesses}`) {
          g.setLimits(memoryBytes, maxProcesses);
          limits = `${memoryBytes}/${maxProcesses}`;
        }
        base = g.counters();
      },
      counters(): JailCgroupCounters {
        const now = g.counters();
        return {
          oomKills: now.oomKills - base.oomKills,
          forksRefused: now.forksRefused - base.forksRefused,
          cpuUsec: now.cpuUsec - base.cpuUsec,
        };
      },
      forksRefused: () => g.forksRefused() - base.forksRefused,
      killAll: () => g.killAll(),
    };
  }

  /**
   * A reader of one key of a counter file, through one descriptor kept open (closed with the rest at
   * closeSync): reading at offset 0 makes the kernel print the file afresh. A slot's counters are read
   * several times per run and polled while it runs; opening two files each time was ~0.4 s of the server's
   * time in a cold git build (perf). 0 when the file is absent on this kernel (or cannot be read this time).
   */
  private counter(file: string, key: string): () => number {
    let fd: number | null | undefined;
    const buf = Buffer.alloc(4096);
    return () => {
      try {
        if (fd === undefined) {
          fd = fs.openSync(file, 'r');
          this.fds.push(fd);
        }
        if (fd === null) return 0;
        return keyOf(buf.toString('utf8', 0, fs.readSync(fd, buf, 0, buf.length, 0)), key);
      } catch (e) {
        if (fd === undefined && (e as NodeJS.ErrnoException).code === 'ENOENT') fd = null; // absent on this kernel
        return 0;
      }
    };
  }

  private create(name: string): RawCgroup {
    const v1 = this.h.version === 1;
    const dirs = v1
      ? [path.join(this.bases.memory, name), path.join(this.bases.pids, name)]
      : [path.join(this.bases.memory, name)];
    const [memDir, pidsDir] = v1 ? [dirs[0]!, dirs[1]!] : [dirs[0]!, dirs[0]!];
    for (const d of dirs) fs.mkdirSync(d, { recursive: true });
    const procsFiles = dirs.map((d) => path.join(d, 'cgroup.procs'));
    let memory = 0;
    const oomKills = this.counter(path.join(memDir, v1 ? 'memory.oom_control' : 'memory.events'), 'oom_kill');
    const forksRefused = this.counter(path.join(pidsDir, 'pids.events'), 'max');
    const cpuUsec = v1 ? () => 0 : this.counter(path.join(memDir, 'cpu.stat'), 'usage_usec');
    return {
      procsFiles,
      setLimits(memoryBytes: number, maxProcesses: number): void {
        const files = v1 ? ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes'] : ['memory.max'];
        // v1 keeps memsw >= memory at every step: raise memsw first, lower it last (a fresh cgroup has both
        // unlimited: lowering). Without swap accounting the memsw file is absent; with it, swap must not
        // extend the limit.
        const raising = memory !== 0 && memoryBytes > memory;
        for (const f of raising ? [...files].reverse() : files)
          writeIfPresent(path.join(memDir, f), String(memoryBytes));
        if (!v1) writeIfPresent(path.join(memDir, 'memory.swap.max'), '0');
        memory = memoryBytes;
        fs.writeFileSync(path.join(pidsDir, 'pids.max'), String(maxProcesses));
      },
      counters: (): JailCgroupCounters => ({
        oomKills: oomKills(),
        forksRefused: forksRefused(),
        cpuUsec: cpuUsec(),
      }),
      forksRefused,
      empty: () => procsFiles.every((f) => readPids(f).length === 0),
      killAll(): void {
        for (const f of procsFiles) {
          for (const pid of readPids(f)) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // gone already
            }
          }
        }
      },
      remove(): void {
        for (const d of dirs) rmdirQuiet(d);
      },
    };
  }

  closeSync(): void {
    for (const cg of this.slots.values()) cg.killAll();
    this.slots.clear();
    for (const fd of this.fds.splice(0)) fs.closeSync(fd);
    for (const base of new Set(Object.values(this.bases))) {
      for (const child of safeReaddir(base)) {
        const d = path.join(base, child);
        if (fs.statSync(d, { throwIfNoEntry: false })?.isDirectory()) rmdirQuiet(d);
      }
      rmdirQuiet(base);
    }
  }
}

interface RawCgroup {
  procsFiles: string[];
  setLimits(memoryBytes: number, maxProcesses: number): void;
  counters(): JailCgroupCounters;
  forksRefused(): number;
  empty(): boolean;
  killAll(): void;
  remove(): void;
}

function findHierarchy(): Hierarchy | string {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const memberships = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean);
  const v1: Partial<Record<Controller, string>> = {};
  let v2Mount: { root: string; point: string } | undefined;
  for (const line of mounts) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const [fstype, , superOpts] = post.split(' ');
    const root = unescapeMount(f[3]!);
    const point = unescapeMount(f[4]!);
    if (fstype === 'cgroup2') v2Mount ??= { root, point };
    if (fstype !== 'cgroup') continue;
    const opts = (superOpts ?? '').split(',');
    for (const c of ['memory', 'pids'] as const) {
      if (!opts.includes(c) || v1[c]) continue;
      const m = memberships.map((l) => l.split(':')).find((p) => p[1]!.split(',').includes(c));
      if (m) v1[c] = under(point, root, m.slice(2).join(':'));
    }
  }
  if (v1.memory && v1.pids) return { version: 1, own: { memory: v1.memory, pids: v1.pids } };
  if (v1.memory || v1.pids) return `only the ${v1.memory ? 'memory' : 'pids'} cgroup v1 controller is mounted`;
  const unified = memberships.find((l) => l.startsWith('0::'));
  if (!v2Mount || !unified) return 'no cgroup v1 memory+pids hierarchy and no cgroup v2 mount';
  const own = under(v2Mount.point, v2Mount.root, unified.slice(3));
  const delegated = fs.readFileSync(path.join(own, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
  if (!delegated.includes('memory') || !delegated.includes('pids')) {
    return `cgroup v2: ${own} does not delegate the memory and pids controllers to its children`;
  }
  return { version: 2, own: { memory: own, pids: own } };
}

/** Host path of cgroup `rel` in a hierarchy mounted at `point` whose mount shows cgroup `root`. */
function under(point: string, root: string, rel: string): string {
  const inside = root !== '/' && (rel === root || rel.startsWith(`${root}/`)) ? rel.slice(root.length) : rel;
  return path.join(point, inside);
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Cgroups left by a gg-ts process that died without cleaning up. */
function removeStale(h: Hierarchy): void {
  for (const own of new Set(Object.values(h.own))) {
    for (const name of safeReaddir(own)) {
      const m = /^gg-ts-(\d+)$/.exec(name);
      if (!m || isAlive(Number(m[1]))) continue;
      const base = path.join(own, name);
      for (const child of safeReaddir(base)) {
        const d = path.join(base, child);
        if (fs.statSync(d, { throwIfNoEntry: false })?.isDirectory()) rmdirQuiet(d);
      }
      rmdirQuiet(base);
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function writeIfPresent(file: string, value: string): void {
  try {
    fs.writeFileSync(file, value);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function keyOf(text: string, key: string): number {
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k === key) return Number(v);
  }
  return 0;
}

function readPids(procsFile: string): number[] {
  try {
    return fs.readFileSync(procsFile, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function rmdirQuiet(d: string): boolean {
  try {
    fs.rmdirSync(d);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function safeReaddir(d: string): string[] {
  try {
    return fs.readdirSync(d);
  } catch {
    return [];
  }
}
