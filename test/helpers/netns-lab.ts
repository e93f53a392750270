/**
 * Hosts made by a test: network namespaces on one bridge (veth pairs), each with its own address, all named
 * `gg-i11-<run>-...`. Nothing is routed to or from the machine's own network: traffic stays between the
 * hosts the test made. `destroy()` removes every namespace and link (also called on process exit), and
 * `sweepStale()` removes what a killed earlier run left. Processes started in a host die with the test
 * process (setpriv --pdeathsig), so a crashed run leaves no worker or server behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

const PREFIX = 'gg-i11-';

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

export function netnsAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return `ip netns does not work here: ${r.stderr || r.error?.message}`;
  return undefined;
}

/** Namespaces and links of earlier runs whose process is gone. */
export function sweepStale(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(ns);
    if (m && !alive(Number(m[1]))) spawnSync('ip', ['netns', 'del', ns]);
  }
  // A veth goes with its namespace; a bridge of a dead run is left with no ports.
  const bridges = spawnSync('ip', ['-o', 'link', 'show', 'type', 'bridge'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of bridges.split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1] ?? '';
    if (!name.startsWith(`${PREFIX}b`) || name === `${PREFIX}b${process.pid % 100000}`) continue;
    const ports = spawnSync('ip', ['-o', 'link', 'show', 'master', name], { encoding: 'utf8' }).stdout ?? '';
    if (ports.trim() === '') spawnSync('ip', ['link', 'del', name]);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface LabHost {
  name: string;
  ns: string;
  addr: string;
  /** The bridge side of its link: set down to cut the host off. */
  link: string;
}

export class NetnsLab {
  readonly hosts = new Map<string, LabHost>();
  private readonly bridge: string;
  private readonly subnet: string;
  private readonly children = new Set<ChildProcess>();
  private next = 2;
  private destroyed = false;
  private readonly onExit = (): void => this.destroy();
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.destroy();
    process.kill(process.pid, sig);
  };

  constructor() {
    sweepStale();
    // Interface names are at most 15 characters: the pid keeps runs apart.
    this.bridge = `${PREFIX}b${process.pid % 100000}`;
    this.subnet = `10.211.${process.pid % 250}`;
    process.once('exit', this.onExit);
    // A test runner stopped by a signal exits without 'exit' handlers: clean up first, then die of it.
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, this.onSignal);
    ip('link', 'add', this.bridge, 'type', 'bridge');
    ip('link', 'set', this.bridge, 'up');
  }

  addHost(name: string): LabHost {
    const ns = `${PREFIX}${process.pid}-${name}`;
    const link = `${PREFIX}${process.pid % 100000}-${this.next}`.slice(0, 15);
    const addr = `${this.subnet}.${this.next++}`;
    ip('netns', 'add', ns);
    ip('link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('link', 'set', link, 'master', this.bridge, 'up');
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    const h = { name, ns, addr, link };
    this.hosts.set(name, h);
    return h;
  }

  host(name: string): LabHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** Start a process on a host; it is killed if this process dies. */
  spawn(host: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.host(host).ns, 'setpriv', '--pdeathsig', 'KILL', cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: opts.env ?? process.env,
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Run to completion on a host. */
  run(
    host: string,
    cmd: string,
    args: string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
  ): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', this.host(host).ns, cmd, ...args], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
      timeout: opts.timeoutMs ?? 600_000,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: opts.env ?? process.env,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Cut a host off the bridge (its link goes down), or reconnect it. */
  setLink(host: string, up: boolean): void {
    ip('link', 'set', this.host(host).link, up ? 'up' : 'down');
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.onExit);
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.removeListener(sig, this.onSignal);
    for (const c of this.children) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    // A namespace outlives `ip netns del` while a process is still in it: delete its link pair explicitly.
    for (const h of this.hosts.values()) {
      spawnSync('ip', ['link', 'del', h.link]);
      spawnSync('ip', ['netns', 'del', h.ns]);
    }
    spawnSync('ip', ['link', 'del', this.bridge]);
  }
}

/** Every gg-i11 namespace and link of this process (to prove cleanup). */
export function leftovers(): string[] {
  const ns = (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '')
    .split('\n')
    .filter((l) => l.startsWith(`${PREFIX}${process.pid}-`));
  const mine = [`${PREFIX}b${process.pid % 100000}`, `${PREFIX}${process.pid % 100000}-`];
  const links = (spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? '')
    .split('\n')
    .filter((l) => mine.some((m) => l.includes(`: ${m}`)));
  return [...ns, ...links];
}
