/**
 * The spawner helper (src/sandbox/spawner.ts): a small Node process that starts the unsandboxed programs. Real
 * programs throughout: exit codes and signals, argv0/cwd/env/log, timeouts and aborts that kill the program's
 * whole process group, programs that cannot start, and the helper itself dying under a running program.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { isGgError } from '../../src/errors.js';
import type { RunProcessOptions } from '../../src/sandbox/process-runner.js';
import { Spawner } from '../../src/sandbox/spawner.js';
import { ended } from '../helpers/jail-thunks.js';
import { cleanupTemps, tempDir } from '../helpers/store-fixtures.js';

after(cleanupTemps);

function sh(script: string, o: Partial<RunProcessOptions> = {}): RunProcessOptions {
  const dir = o.cwd ?? tempDir();
  return {
    file: '/bin/sh',
    args: ['-c', script],
    cwd: dir,
    env: { PATH: '/usr/bin:/bin' },
    logFile: path.join(dir, 'log'),
    timeoutMs: 0,
    ...o,
  };
}

const alive = (pid: number): boolean => !ended(pid);

async function waitGone(pid: number, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20)))
    if (!alive(pid)) return true;
  return false;
}

async function readPid(file: string): Promise<number> {
  for (let i = 0; i < 250; i++, await new Promise((r) => setTimeout(r, 20))) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
    if (/^\d+$/.test(text)) return Number(text);
  }
  throw new Error(`no pid in ${file}`);
}

// Both helpers, the native one (spawner.c, which npm run build makes) and the Node fallback, pass the same tests.
for (const kind of ['native', 'node'] as const)
  describe(`spawner (${kind} helper)`, () => {
    const spawner = new Spawner(kind);
    after(() => spawner.close());

    it('runs the program with its argv0, cwd and env only; stdout and stderr go to the log', async () => {
      const dir = tempDir();
      fs.mkdirSync(path.join(dir, 'sub'));
      const o = sh('echo "$0 $FOO [$HOME]"; pwd; echo oops >&2', {
        cwd: path.join(dir, 'sub'),
        argv0: 'renamed',
        env: { FOO: 'bar' },
        logFile: path.join(dir, 'log'),
      });
      const r = await spawner.run(o);
      assert.equal(r.exitCode, 0);
      assert.equal(r.limit, undefined);
      const log = fs.readFileSync(path.join(dir, 'log'), 'utf8');
      assert.equal(log, `renamed bar []\n${path.join(dir, 'sub')}\noops\n`);
    });

    it('reports exit codes and signals as the program ended', async () => {
      assert.equal((await spawner.run(sh('exit 3'))).exitCode, 3);
      const killed = await spawner.run(sh('kill -TERM $$'));
      assert.equal(killed.exitCode, null);
      assert.equal(killed.signal, 'SIGTERM');
    });

    it('many programs at once, each answered with its own result', async () => {
      const rs = await Promise.all(Array.from({ length: 12 }, (_, i) => spawner.run(sh(`exit ${i}`))));
      assert.deepEqual(
        rs.map((r) => r.exitCode),
        Array.from({ length: 12 }, (_, i) => i),
      );
    });

    for (const how of ['timeout', 'cancelled'] as const) {
      it(`a ${how === 'timeout' ? 'timeout' : 'cancellation'} kills the whole process group, grandchildren too`, async () => {
        const dir = tempDir();
        const pidFile = path.join(dir, 'pid');
        const abort = new AbortController();
        const run = spawner.run(
          sh(`sleep 60 & echo $! > ${pidFile}; wait`, {
            cwd: dir,
            ...(how === 'timeout' ? { timeoutMs: 300 } : { abort: abort.signal }),
          }),
        );
        const grandchild = await readPid(pidFile);
        assert.ok(alive(grandchild), 'premise: the grandchild runs');
        if (how === 'cancelled') abort.abort();
        const r = await run;
        assert.equal(r.limit, how);
        assert.ok(await waitGone(grandchild), 'the sleeping grandchild was killed with its group');
      });
    }

    it('programs a finished program left running in its group are killed when it exits', async () => {
      const dir = tempDir();
      const pidFile = path.join(dir, 'pid');
      const r = await spawner.run(sh(`sleep 60 & echo $! > ${pidFile}`, { cwd: dir }));
      assert.equal(r.exitCode, 0);
      assert.ok(await waitGone(await readPid(pidFile)));
    });

    it('a program that cannot start is GG_E_INFRA, not retryable (ENOENT), and the spawner keeps working', async () => {
      await assert.rejects(spawner.run({ ...sh(''), file: '/nonexistent/prog', args: [] }), (e) => {
        assert.ok(isGgError(e, 'GG_E_INFRA'));
        assert.equal(e.retryable, false);
        assert.match(e.message, /could not start/);
        return true;
      });
      await assert.rejects(spawner.run(sh('true', { cwd: '/nonexistent-dir' })), (e) => isGgError(e, 'GG_E_INFRA'));
      assert.equal((await spawner.run(sh('exit 0'))).exitCode, 0);
    });

    it('launch: descriptors above 2 are files opened by path or pipes relayed both ways, and the reaped CPU is reported', async () => {
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, 'in'), 'from a file\n');
      const got = new Map<number, string>();
      const burn = 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done';
      const l = spawner.launch({
        ...sh(`read -r line <&3; echo "got $line" >&3; cat <&4 >&6; ${burn}`, { cwd: dir }),
        fds: ['pipe', { open: path.join(dir, 'in') }, 'ignore', 'pipe'],
        input: { fd: 3, data: Buffer.from('hello\n') },
        cpu: true,
        onData: (fd, d) => got.set(fd, (got.get(fd) ?? '') + d.toString()),
      });
      const r = await l.ended;
      assert.equal(r.code, 0, fs.readFileSync(path.join(dir, 'log'), 'utf8'));
      assert.deepEqual(Object.fromEntries(got), { 3: 'got hello\n', 6: 'from a file\n' });
      assert.ok(r.cpuMs !== undefined && r.cpuMs >= 50, `the shell's loop took CPU: ${r.cpuMs} ms`);
    });

    it('launch: a descriptor file that does not exist is not created, and the program does not start', async () => {
      const dir = tempDir();
      const missing = path.join(dir, 'missing');
      const l = spawner.launch({
        ...sh(`echo ran > ${path.join(dir, 'ran')}`, { cwd: dir }),
        fds: [{ open: missing, write: true }],
      });
      await assert.rejects(l.ended, (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
      assert.equal(fs.existsSync(missing), false);
      assert.equal(fs.existsSync(path.join(dir, 'ran')), false);
    });

    it('a helper that dies fails its running programs as retryable infrastructure failures; the next run starts a new one', async () => {
      const s = new Spawner(kind);
      try {
        const dir = tempDir();
        const pidFile = path.join(dir, 'pid');
        const run = s.run(sh(`echo $PPID > ${pidFile}; exec sleep 60`, { cwd: dir, timeoutMs: 30_000 }));
        const helper = await readPid(pidFile);
        const program = Number(fs.readFileSync(`/proc/${helper}/task/${helper}/children`, 'utf8').trim());
        assert.notEqual(helper, process.pid, 'premise: the program is the helper process, not ours');
        process.kill(helper, 'SIGKILL');
        await assert.rejects(run, (e) => isGgError(e, 'GG_E_INFRA') && e.retryable);
        assert.ok(await waitGone(program), 'the program did not outlive its helper');
        assert.equal((await s.run(sh('exit 4'))).exitCode, 4);
      } finally {
        await s.close();
      }
    });

    it('a helper killed before it reports the program it started still takes that program with it', async () => {
      // The program kills its helper as its first act, so the helper often dies between starting it and
      // reporting its pid (and sometimes just after): either way nothing of the run may survive.
      for (let round = 0; round < 5; round++) {
        const s = new Spawner(kind);
        try {
          const dir = tempDir();
          const pidFile = path.join(dir, 'pid');
          const run = s.run(sh(`echo $$ > ${pidFile}; kill -9 $PPID; exec sleep 60`, { cwd: dir, timeoutMs: 30_000 }));
          await assert.rejects(run, (e) => isGgError(e, 'GG_E_INFRA') && e.retryable);
          assert.ok(await waitGone(await readPid(pidFile)), `round ${round}: the program outlived its helper`);
        } finally {
          await s.close();
        }
      }
    });
  });
