/**
 * The first program run inside every jail, and its PID 1: a 860-byte static x86-64 executable that we write
 * ourselves, so the jail needs nothing from the host to start a thunk. bubblewrap (0.8) can neither set
 * argv[0] apart from the program path nor drop to a second uid after setting up the mounts; and its own PID 1
 * reports the exit status and lets its parent exit before it is reaped itself, which leaves a zombie per jail
 * on machines whose init does not reap orphans. So bubblewrap runs this with --as-pid-1:
 *
 *   /gg/bin/exec PROGRAM ARGV0 ARGS...          (as uid 0 of the jail's user namespace)
 *     write(5, "0\n"), write(6, "0\n")          join the run's cgroups (fds opened by the host; EBADF: none)
 *     unshare(CLONE_NEWCGROUP)                   so /proc/self/cgroup reads "/" in every jail
 *     read(3, 48 bytes); prlimit64(...)          RLIMIT_FSIZE, RLIMIT_AS, RLIMIT_NPROC as {cur, max};
 *                                                cur = RLIM_INFINITY leaves one as it is
 *     close_range(4, ~0)                         no inherited descriptor reaches the program
 *     setgroups(0); setresgid(1000); setresuid(1000)   leaves no capability
 *     fcntl(3, F_SETFD, FD_CLOEXEC); write(3, "R")     "the jail is set up", to the host
 *     fork: child  execve(PROGRAM, [ARGV0, ARGS...], envp); on failure write(3, "E" + errno), exit 127
 *           parent poll(fd 3 hang-up, pidfd_open(program), 1 s) and wait4(-1, WNOHANG), reaping every
 *                  orphan, until the program ends: exit with its status (128 + signal if it was killed);
 *                  the jail's other processes die with us. A hang-up on fd 3 means gg is gone (SIGKILL,
 *                  a crash): exit at once. bubblewrap's --die-with-parent does not survive the uid switch,
 *                  and no parent-death signal reaches a PID namespace's init: fd 3 is how a jail learns it.
 *     on a setup failure: a message on stderr, exit 126
 *
 * fd 3 is a socket to the host, held by the helper to the end: no "R" means bubblewrap or the setup failed
 * before the program (an infrastructure fault); "E" names the errno of a failed execve (a missing ELF
 * interpreter is ENOENT).
 * Source: jail-exec-helper.x86_64.s beside this file (position-independent; a test reassembles it).
 */

/** The uid and gid a thunk's program runs as, inside the jail. */
export const JAIL_UID = 1000;
export const JAIL_GID = 1000;

const CODE_X86_64 =
  '4989e54d8b65004983fc030f823102000041be05000000b8010000004489f7488d3540020000ba020000000f054883f8f7740948' +
  '85c00f8806020000b8030000004489f70f0541ffc64183fe0772c8b810010000bf000000020f054883ec3031c0bf030000004889' +
  'e6ba300000000f054883f8300f85c80100004531f6488d05e4010000420fb634304c89f248c1e2044801e248833aff7415b82e01' +
  '000031ff4531d20f054885c00f859401000041ffc64183fe0372c6b8b4010000bf04000000beffffffff31d20f054885c00f856f' +
  '010000b87400000031ff31f60f054885c00f855b010000b877000000bfe803000089fe89fa0f054885c00f8542010000b8750000' +
  '00bfe803000089fe89fa0f054885c00f8529010000b848000000bf03000000be02000000ba010000000f05b801000000bf030000' +
  '00488d352b010000ba010000000f05b8390000000f054885c00f88eb000000753f498b7d10498d75184b8d54e510b83b0000000f' +
  '0548f7d8c604244588442401b801000000bf030000004889e6ba020000000f05bf7f000000b8e70000000f054989c7b8b2010000' +
  '4c89ff31f60f054885c00f88920000004989c6c744240803000000c744240c002000004489742410c744241401000000b8070000' +
  '00488d7c2408be02000000bae80300000f0566f744240e38207547b83d00000048c7c7ffffffff4889e6ba010000004531d20f05' +
  '4885c07ea64c39f875dd8b0c2489cf83e77f740881c780000000eb0b89cfc1ef0881e7ff000000b8e70000000f05bf89000000b8' +
  'e70000000f05b801000000bf02000000488d3519000000ba400000000f05bf7e000000b8e70000000f05300a0109065267673a20' +
  '746865206a61696c277320657865632068656c70657220636f756c64206e6f742073657420757020746865207468756e6b277320' +
  '70726f636573730a';

const LOAD_ADDRESS = 0x400000n;
const EHDR_SIZE = 64;
const PHDR_SIZE = 56;

/** The helper for this machine's architecture, or undefined where we have none yet. */
export function jailExecHelper(arch: string = process.arch): Buffer | undefined {
  if (arch !== 'x64') return undefined;
  return elfExecutable(Buffer.from(CODE_X86_64, 'hex'), 0x3e);
}

/** A minimal ELF64 executable: one read+execute PT_LOAD holding headers and code, plus a non-executable stack. */
function elfExecutable(code: Buffer, machine: number): Buffer {
  const headers = EHDR_SIZE + 2 * PHDR_SIZE;
  const size = headers + code.length;
  const b = Buffer.alloc(size);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */], 0);
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(machine, 18);
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(LOAD_ADDRESS + BigInt(headers), 24); // entry: the first code byte
  b.writeBigUInt64LE(BigInt(EHDR_SIZE), 32); // program headers right after this header
  b.writeUInt16LE(EHDR_SIZE, 52);
  b.writeUInt16LE(PHDR_SIZE, 54);
  b.writeUInt16LE(2, 56);
  b.writeUInt16LE(64, 58);
  let p = EHDR_SIZE;
  b.writeUInt32LE(1, p); // PT_LOAD
  b.writeUInt32LE(5, p + 4); // R+X
  b.writeBigUInt64LE(LOAD_ADDRESS, p + 16);
  b.writeBigUInt64LE(LOAD_ADDRESS, p + 24);
  b.writeBigUInt64LE(BigInt(size), p + 32);
  b.writeBigUInt64LE(BigInt(size), p + 40);
  b.writeBigUInt64LE(0x1000n, p + 48);
  p += PHDR_SIZE;
  b.writeUInt32LE(0x6474e551, p); // PT_GNU_STACK
  b.writeUInt32LE(6, p + 4); // R+W, never executable
  code.copy(b, headers);
  return b;
}

/** What fd 3 said: whether the helper ran, and the errno of a failed execve. */
export interface HelperReport {
  started: boolean;
  execErrno?: number;
}

/** What the helper reads on fd 3 before anything else: RLIMIT_FSIZE, RLIMIT_AS, RLIMIT_NPROC (undefined: keep). */
export function encodeRlimits(fsize: number | undefined, as: number | undefined, nproc: number | undefined): Buffer {
  const b = Buffer.alloc(48);
  [fsize, as, nproc].forEach((v, i) => {
    const n = v === undefined ? 0xffffffffffffffffn : BigInt(v);
    b.writeBigUInt64LE(n, i * 16);
    b.writeBigUInt64LE(n, i * 16 + 8);
  });
  return b;
}

export function parseHelperReport(bytes: Buffer): HelperReport {
  const started = bytes.length > 0 && bytes[0] === 0x52;
  if (started && bytes.length >= 3 && bytes[1] === 0x45) return { started, execErrno: bytes[2]! };
  return { started };
}
