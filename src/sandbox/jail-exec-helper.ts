/**
 * The first program run inside every jail: a 208-byte static x86-64 executable that we write ourselves, so
 * the jail needs nothing from the host to start a thunk. It exists because bubblewrap (0.8) can neither set
 * argv[0] apart from the program path nor drop to a second uid after setting up the mounts:
 *
 *   /gg/bin/exec PROGRAM ARGV0 ARGS...
 *     setgroups(0, NULL); setresgid(1000 x3); setresuid(1000 x3)   -- leaves no capability; exit 126 on failure
 *     fcntl(3, F_SETFD, FD_CLOEXEC); write(3, "R", 1)              -- "the jail is set up" to the host
 *     execve(PROGRAM, [ARGV0, ARGS...], envp)
 *     on failure: write(3, "E" + errno byte, 2); exit 127
 *
 * fd 3 is a pipe to the host: no "R" means bubblewrap failed before the program (an infrastructure fault);
 * "E" names the errno of a failed execve (a missing ELF interpreter is ENOENT). Source (GNU as):
 *
 *     mov (%rsp),%r12; cmp $3,%r12; jb die
 *     mov $116,%eax; xor %edi,%edi; xor %esi,%esi; syscall; test %rax,%rax; jnz die
 *     mov $119,%eax; mov $1000,%edi; mov %edi,%esi; mov %edi,%edx; syscall; test %rax,%rax; jnz die
 *     mov $117,%eax; mov $1000,%edi; mov %edi,%esi; mov %edi,%edx; syscall; test %rax,%rax; jnz die
 *     mov $72,%eax; mov $3,%edi; mov $2,%esi; mov $1,%edx; syscall
 *     mov $1,%eax; mov $3,%edi; lea ready(%rip),%rsi; mov $1,%edx; syscall
 *     mov 16(%rsp),%rdi; lea 24(%rsp),%rsi; lea 16(%rsp,%r12,8),%rdx; mov $59,%eax; syscall
 *     neg %rax; sub $16,%rsp; movb $69,(%rsp); mov %al,1(%rsp)
 *     mov $1,%eax; mov $3,%edi; mov %rsp,%rsi; mov $2,%edx; syscall
 *     mov $127,%edi; mov $231,%eax; syscall
 *   die: mov $126,%edi; mov $231,%eax; syscall
 *   ready: .byte 'R'
 */

/** The uid and gid a thunk's program runs as, inside the jail. */
export const JAIL_UID = 1000;
export const JAIL_GID = 1000;

const CODE_X86_64 =
  '4c8b24244983fc030f82b5000000b87400000031ff31f60f054885c00f85a1000000b877000000bfe803000089fe89fa0f054885c0' +
  '0f8588000000b875000000bfe803000089fe89fa0f054885c07573b848000000bf03000000be02000000ba010000000f05b8010000' +
  '00bf03000000488d3558000000ba010000000f05488b7c2410488d7424184a8d54e410b83b0000000f0548f7d84883ec10c6042445' +
  '88442401b801000000bf030000004889e6ba020000000f05bf7f000000b8e70000000f05bf7e000000b8e70000000f0552';

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

export function parseHelperReport(bytes: Buffer): HelperReport {
  const started = bytes.length > 0 && bytes[0] === 0x52;
  if (started && bytes.length >= 3 && bytes[1] === 0x45) return { started, execErrno: bytes[2]! };
  return { started };
}
