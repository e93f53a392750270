/**
 * User namespaces for jails, made once and reused (joining one is cheaper than creating one per run).
 *
 * Each maps uid/gid 0 to the host's 0, so bubblewrap (root inside) can still reach bind sources under
 * private 0700 directories, and maps the jail user 1000 to a host id of its own per slot. The program runs as
 * that id (the exec helper switches to it), which owns none of the store's files: hard-linked inputs cannot be
 * made writable, and RLIMIT_NPROC counts exactly one jail's processes (the fallback when no pids cgroup).
 * Concurrent runs take different slots; a slot is one namespace (an open /proc/PID/ns/user descriptor).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { GgError } from '../errors.js';
import { JAIL_GID, JAIL_UID } from './jail-exec-helper.js';

/** Host ids of jail slots: 0x6A000000 + slot, far above regular and container-mapped ids. */
export const JAIL_HOST_ID_BASE = 0x6a000000;

export interface JailSlot {
  index: number;
  /** Host uid (= gid) the program runs as. */
  hostId: number;
  /** Open descriptor of the slot's user namespace. */
  usernsFd: number;
}

export class JailUserNamespaces {
  private readonly free: JailSlot[] = [];
  private readonly all: JailSlot[] = [];
  private creating = 0;

  constructor(private readonly bwrap: string) {}

  async acquire(): Promise<JailSlot> {
    const slot = this.free.pop();
    if (slot) return slot;
    const index = this.all.length + this.creating++;
    try {
      const hostId = JAIL_HOST_ID_BASE + index;
      const made = { index, hostId, usernsFd: await createUserNamespace(this.bwrap, hostId) };
      this.all.push(made);
      return made;
    } finally {
      this.creating--;
    }
  }

  release(slot: JailSlot): void {
    this.free.push(slot);
  }

  close(): void {
    for (const s of this.all.splice(0)) fs.closeSync(s.usernsFd);
    this.free.length = 0;
  }
}

/**
 * bubblewrap creates the namespace and waits on --userns-block-fd until its id maps are written: we write
 * ours, open the namespace, then let it go on to exec a missing program, so it exits (and is reaped) at once.
 */
function createUserNamespace(bwrap: string, hostId: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const child = spawn(
      bwrap,
      ['--unshare-user', '--userns-block-fd', '3', '--info-fd', '4', '--', '/gg-ts-userns-anchor'],
      {
        stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
        env: {},
      },
    );
    const [, , stderr, block, info] = child.stdio;
    let infoText = '';
    let errText = '';
    let fd: number | undefined;
    let failure: Error | undefined;
    stderr!.on('data', (d: Buffer) => (errText += d.toString()));
    info!.on('data', (d: Buffer) => {
      infoText += d.toString();
      const m = /"child-pid":\s*(\d+)/.exec(infoText);
      if (!m || fd !== undefined || failure) return;
      const pid = Number(m[1]);
      try {
        fs.writeFileSync(`/proc/${pid}/uid_map`, `0 0 1\n${JAIL_UID} ${hostId} 1\n`);
        fs.writeFileSync(`/proc/${pid}/gid_map`, `0 0 1\n${JAIL_GID} ${hostId} 1\n`);
        fd = fs.openSync(`/proc/${pid}/ns/user`, 'r');
      } catch (e) {
        failure = e as Error;
      }
      (block as NodeJS.WritableStream).end('x');
    });
    info!.on('error', () => {});
    (block as NodeJS.WritableStream).on('error', () => {});
    child.once('error', (e) => reject(unavailable(`cannot start ${bwrap}: ${e.message}`)));
    child.once('close', () => {
      if (fd !== undefined) resolve(fd);
      else
        reject(
          unavailable(
            failure
              ? `cannot map the jail's user namespace: ${failure.message}`
              : `bubblewrap could not create a user namespace${errText ? `: ${errText.trim()}` : ''}`,
          ),
        );
    });
  });
}

function unavailable(message: string): GgError {
  return new GgError('GG_E_SANDBOX_UNAVAILABLE', message, {
    hint: 'the bubblewrap sandbox needs root and user namespaces (sysctl user.max_user_namespaces > 0); or run with --sandbox=none',
  });
}
