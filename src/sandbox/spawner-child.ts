/**
 * The spawner's child side (see spawner.ts): a small Node process that starts programs on request, relays
 * their pipes, and reports how they ended. It exits when its parent goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { markReapedCpu, takeReapedCpuMs } from './reaped-cpu.js';
import type { ExtraFd, SpawnerReply, SpawnerRequest } from './spawner.js';

type RunRequest = Extract<SpawnerRequest, { t: 'run' }>;

const running = new Map<number, ChildProcess>();

function send(m: SpawnerReply): void {
  process.send?.(m);
}

function killGroup(c: ChildProcess | undefined): void {
  try {
    if (c?.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Opens what `fds` names; every descriptor opened is pushed on `opened` (closed by the caller). */
function openFds(fds: readonly ExtraFd[], opened: number[]): ('pipe' | 'ignore' | number)[] {
  return fds.map((f) => {
    if (f === 'pipe' || f === 'ignore') return f;
    // Never O_CREAT or O_TRUNC: what is named must exist, and a cgroup's procs file is written, not replaced.
    const fd = fs.openSync(f.open, f.write ? fs.constants.O_WRONLY : fs.constants.O_RDONLY);
    opened.push(fd);
    return fd;
  });
}

function start(m: RunRequest): void {
  const opened: number[] = [];
  try {
    const log = fs.openSync(m.logFile, 'a');
    opened.push(log);
    const extra = openFds(m.fds ?? [], opened);
    if (m.cpu) markReapedCpu();
    const c = spawn(m.file, m.args, {
      argv0: m.argv0,
      cwd: m.cwd,
      env: m.env,
      stdio: ['ignore', log, log, ...extra],
      detached: true,
    });
    running.set(m.id, c);
    if (c.pid !== undefined) send({ t: 'started', id: m.id, pid: c.pid });
    (m.fds ?? []).forEach((f, i) => {
      if (f !== 'pipe') return;
      const stream = c.stdio[3 + i] as Readable | null;
      stream?.on('data', (d: Buffer) => send({ t: 'data', id: m.id, fd: 3 + i, data: d.toString('base64') }));
      stream?.on('error', () => {}); // the program may close its end first
    });
    if (m.input) {
      const stream = c.stdio[m.input.fd] as Writable | null;
      stream?.on('error', () => {});
      stream?.write(Buffer.from(m.input.data, 'base64'));
    }
    c.once('error', (e: NodeJS.ErrnoException) => {
      running.delete(m.id);
      send({ t: 'error', id: m.id, errno: e.code ?? '', message: e.message });
    });
    c.once('exit', () => killGroup(c)); // stragglers the program left in its group
    // 'close', not 'exit': what the program wrote to its pipes must be relayed to its end first.
    c.once('close', (code, signal) => {
      if (!running.delete(m.id)) return; // 'error' answered already
      const cpuMs = m.cpu ? takeReapedCpuMs() : undefined;
      send({ t: 'exit', id: m.id, code, signal, ...(cpuMs === undefined ? {} : { cpuMs }) });
    });
  } catch (e) {
    send({ t: 'error', id: m.id, errno: (e as NodeJS.ErrnoException).code ?? '', message: (e as Error).message });
  } finally {
    for (const fd of opened) fs.closeSync(fd);
  }
}

process.on('message', (m: SpawnerRequest) => {
  if (m.t === 'kill') killGroup(running.get(m.id));
  else start(m);
});

// A terminal's Ctrl-C reaches the whole foreground group, this helper too; gg decides what stops (it sends
// 'kill' for each run), so the helper must outlive the signal: dying here would orphan the programs it started
// in their own groups.
process.on('SIGINT', () => {});

process.on('disconnect', () => {
  for (const c of running.values()) killGroup(c);
  process.exit(0);
});
