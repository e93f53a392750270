/**
 * Just enough of the protobuf wire format for gg's Thunk message (varints and length-delimited fields).
 * Writing by hand keeps the encoding canonical: fields in number order, repeated entries in the order given.
 */
import { GgError } from '../errors.js';

export class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private length = 0;

  private push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }

  private varint(n: number): void {
    const bytes: number[] = [];
    let v = n;
    while (v > 0x7f) {
      bytes.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    bytes.push(v);
    this.push(Buffer.from(bytes));
  }

  bytes(field: number, data: Buffer): void {
    this.varint((field << 3) | 2);
    this.varint(data.length);
    this.push(data);
  }

  string(field: number, s: string): void {
    this.bytes(field, Buffer.from(s, 'utf8'));
  }

  uint32(field: number, n: number): void {
    this.varint(field << 3);
    this.varint(n >>> 0);
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
