/**
 * The wire format of the native spawner helper (spawner.c, built to dist/bin/gg-spawner): length-prefixed binary
 * frames on its stdin and stdout, laid out at the top of spawner.c. Strings travel as bytes (no JSON, no base64),
 * so a request costs the helper no parsing beyond reading lengths.
 */
import os from 'node:os';
import util from 'node:util';
import type { ExtraFd, Reply, Request } from './spawner.js';

class Frame {
  private readonly parts: Buffer[] = [];

  u8(v: number): this {
    this.parts.push(Buffer.of(v));
    return this;
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
    return this;
  }

  str(s: string | Buffer): this {
    const b = typeof s === 'string' ? Buffer.from(s) : s;
    this.u32(b.length).parts.push(b);
    return this;
  }

  strs(v: readonly string[]): this {
    this.u32(v.length);
    for (const s of v) this.str(s);
    return this;
  }

  done(): Buffer {
    const body = Buffer.concat(this.parts);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(body.length);
    return Buffer.concat([len, body]);
  }
}

const KIND = (f: ExtraFd): number => (f === 'ignore' ? 0 : f === 'pipe' ? 1 : f.write ? 3 : 2);

export function encodeRequest(m: Request): Buffer {
  if (m.t === 'kill') return new Frame().u8(0x4b /* K */).u32(m.id).done();
  const f = new Frame()
    .u8(0x52 /* R */)
    .u32(m.id)
    .u8(m.cpu ? 1 : 0)
    .str(m.file)
    .str(m.argv0)
    .str(m.cwd)
    .str(m.logFile)
    .strs(m.args)
    .strs(Object.entries(m.env).map(([k, v]) => `${k}=${v}`));
  const fds = m.fds ?? [];
  f.u32(fds.length);
  for (const fd of fds) f.u8(KIND(fd)).str(typeof fd === 'string' ? '' : fd.open);
  return f
    .u32(m.input?.fd ?? 0)
    .str(m.input?.data ?? Buffer.alloc(0))
    .done();
}

const SIGNALS = new Map(Object.entries(os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** Splits the helper's stdout into replies. */
export class ReplyDecoder {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly fileOf: (id: number) => string | undefined) {}

  push(chunk: Buffer): Reply[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Reply[] = [];
    let at = 0;
    while (this.pending.length - at >= 4) {
      const len = this.pending.readUInt32LE(at);
      if (this.pending.length - at - 4 < len) break;
      const body = this.pending.subarray(at + 4, at + 4 + len);
      at += 4 + len;
      const tag = String.fromCharCode(body[0] ?? 0);
      const id = body.readUInt32LE(1);
      if (tag === 'S') out.push({ t: 'started', id, pid: body.readUInt32LE(5) });
      else if (tag === 'D') out.push({ t: 'data', id, fd: body.readUInt32LE(5), data: Buffer.from(body.subarray(9)) });
      else if (tag === 'X') {
        const code = body.readInt32LE(5);
        const cpuMs = Number(body.readBigInt64LE(13));
        out.push({
          t: 'exit',
          id,
          code: code < 0 ? null : code,
          signal: SIGNALS.get(body.readInt32LE(9)) ?? null,
          ...(cpuMs < 0 ? {} : { cpuMs }),
        });
      } else if (tag === 'E') {
        const errno = body.readUInt32LE(5);
        const name = util.getSystemErrorMap().get(-errno)?.[0] ?? `errno ${errno}`;
        out.push({ t: 'error', id, errno: name, message: `spawn ${this.fileOf(id) ?? ''} ${name}` });
      }
    }
    this.pending = this.pending.subarray(at);
    return out;
  }
}
