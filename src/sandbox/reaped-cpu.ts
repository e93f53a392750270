/**
 * CPU time of reaped children, where no cgroup counts it (cgroup v1 jails count memory and processes only).
 * The kernel adds a child's CPU time, and that of the descendants it waited for, to its parent's cutime/cstime
 * when the parent reaps it; bubblewrap and the jail's PID 1 wait for theirs, so the delta read when a jail
 * closes is that jail's CPU. Two jails reaped in the same instant share one delta: the total stays right.
 */
import fs from 'node:fs';

/** Linux's USER_HZ, the unit of /proc/PID/stat times, is 100 on every architecture Node runs on. */
const TICK_MS = 10;
let last: number | undefined;

function childrenTicks(): number | undefined {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'latin1');
    // Fields after the command name, which is in parentheses and may itself hold spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // cutime and cstime are fields 16 and 17 of stat(5); fields[0] here is field 3 (state).
    return Number(fields[13]) + Number(fields[14]);
  } catch {
    return undefined;
  }
}

/** Call once at start, before children run. */
export function markReapedCpu(): void {
  last ??= childrenTicks();
}

/** CPU milliseconds of children reaped since the previous call, or undefined where it cannot be read. */
export function takeReapedCpuMs(): number | undefined {
  const now = childrenTicks();
  if (now === undefined || last === undefined) {
    last = now;
    return undefined;
  }
  const delta = now - last;
  last = now;
  return delta * TICK_MS;
}
