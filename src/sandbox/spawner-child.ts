/**
 * The spawner's child side (see spawner.ts): a small Node process that starts programs on request and reports
 * how they ended. It exits when its parent goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { SpawnerReply, SpawnerRequest } from './spawner.js';

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

process.on('message', (m: SpawnerRequest) => {
  if (m.t === 'kill') {
    killGroup(running.get(m.id));
    return;
  }
  let log: number | undefined;
  try {
    log = fs.openSync(m.logFile, 'a');
    const c = spawn(m.file, m.args, {
      argv0: m.argv0,
      cwd: m.cwd,
      env: m.env,
      stdio: ['ignore', log, log],
      detached: true,
    });
    running.set(m.id, c);
    if (c.pid !== undefined) send({ t: 'started', id: m.id, pid: c.pid });
    c.once('error', (e: NodeJS.ErrnoException) => {
      running.delete(m.id);
      send({ t: 'error', id: m.id, errno: e.code ?? '', message: e.message });
    });
    c.once('exit', (code, signal) => {
      killGroup(c); // stragglers the program left in its group
      running.delete(m.id);
      send({ t: 'exit', id: m.id, code, signal });
    });
  } catch (e) {
    send({ t: 'error', id: m.id, errno: (e as NodeJS.ErrnoException).code ?? '', message: (e as Error).message });
  } finally {
    if (log !== undefined) fs.closeSync(log);
  }
});

// A terminal's Ctrl-C reaches the whole foreground group, this helper too; gg decides what stops (it sends
// 'kill' for each run), so the helper must outlive the signal: dying here would orphan the programs it started
// in their own groups.
process.on('SIGINT', () => {});

process.on('disconnect', () => {
  for (const c of running.values()) killGroup(c);
  process.exit(0);
});
