/**
 * Just enough of the protobuf wire format for gg's Thunk message (varints and length-delimited fields).
 * Writing by hand keeps the encoding canonical: fields in number order, repeated entries in the order given.
 */
import { GgError } from '../errors.js';

/** Bytes of `n` as a varint. */
function varintSize(n: number): number {
  let size = 1;
  for (let v = n; v > 0x7f; v = Math.floor(v / 128)) size++;
  return size;
}

/** Writes `n` as a varint at `at`; returns the offset after it. */
function writeVarint(buf: Buffer, at: number, n: number): number {
  let i = at;
  let v = n;
  while (v > 0x7f) {
    buf[i++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[i++] = v;
  return i;
}

export class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private length = 0;

  private push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }

  /** A key and, for length-delimited fields, a length: one small buffer (a thunk has hundreds of fields). */
  private head(key: number, len?: number): Buffer {
    const b = Buffer.allocUnsafe(varintSize(key) + (len === undefined ? 0 : varintSize(len)));
    const at = writeVarint(b, 0, key);
    if (len !== undefined) writeVarint(b, at, len);
    return b;
  }

  bytes(field: number, data: Buffer): void {
    this.push(this.head((field << 3) | 2, data.length));
    this.push(data);
  }

  /** Key, length and text in one buffer. */
  string(field: number, s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    const key = (field << 3) | 2;
    const b = Buffer.allocUnsafe(varintSize(key) + varintSize(n) + n);
    b.write(s, writeVarint(b, writeVarint(b, 0, key), n), 'utf8');
    this.push(b);
  }

  uint32(field: number, n: number): void {
    this.push(this.head(field << 3));
    this.push(this.head(n >>> 0));
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

export type ProtoField = { field: number; wire: 0; value: number } | { field: number; wire: 2; value: Buffer };

function malformed(what: string): GgError {
  return new GgError('GG_E_THUNK_INVALID', `malformed thunk encoding: ${what}`, {
    hint: 'the object is not a valid gg thunk; re-create it with gg create-thunk or the SDK',
  });
}

/** Decode one message level into its fields; unknown wire types are rejected, unknown fields kept. */
export function readFields(buf: Buffer): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw malformed('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw malformed('varint too long');
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 0) throw malformed('field number 0');
    if (wire === 0) {
      out.push({ field, wire: 0, value: varint() });
    } else if (wire === 2) {
      const len = varint();
      if (pos + len > buf.length) throw malformed('length past end of message');
      out.push({ field, wire: 2, value: buf.subarray(pos, pos + len) });
      pos += len;
    } else {
      throw malformed(`unsupported wire type ${wire}`);
    }
  }
  return out;
}
