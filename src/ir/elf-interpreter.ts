/** Reading an ELF program's interpreter (its dynamic loader): the jail stages it, the user-space root runs it. */
import fs from 'node:fs';

const PT_INTERP = 3;

/** The first bytes of every ELF file. */
export const ELF_MAGIC = '\x7fELF';

/** The first `n` bytes of a file (fewer when it is shorter): enough to tell ELF programs and scripts apart. */
export function fileHead(file: string, n: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(n);
    return head.subarray(0, fs.readSync(fd, head, 0, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/** PT_INTERP of an ELF file (either class, either byte order), or undefined for a static program. */
export function elfInterpreter(file: string): string | undefined {
  const data = fs.readFileSync(file);
  const is64 = data[4] === 2;
  const le = data[5] === 1;
  const u16 = (o: number): number => (le ? data.readUInt16LE(o) : data.readUInt16BE(o));
  const u32 = (o: number): number => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const word = (o: number): number => (is64 ? Number(le ? data.readBigUInt64LE(o) : data.readBigUInt64BE(o)) : u32(o));
  const phoff = word(is64 ? 32 : 28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + phentsize > data.length || u32(ph) !== PT_INTERP) continue;
    const offset = word(is64 ? ph + 8 : ph + 4);
    const size = word(is64 ? ph + 32 : ph + 16);
    return data
      .subarray(offset, offset + size)
      .toString('latin1')
      .replace(/\0.*$/s, '');
  }
  return undefined;
}
