/**
 * Object names, byte-compatible with the original gg:
 *   type char ('V' value, 'T' thunk) + SHA-256 as base64url without padding, '-' replaced by '.' (43 chars)
 *   + the size as 8 lowercase hex digits  => 52 chars.
 * Extension (docs/IR.md): objects of 4 GiB or more carry 16 hex digits of size (60 chars). Names of smaller
 * objects are unchanged, so every name the original can produce is still produced exactly.
 * A reference to a non-first output of a thunk appends `#tag`.
 */
import type * as Crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { GgError } from '../errors.js';

let crypto: typeof Crypto | undefined;

/**
 * node:crypto, loaded on first use: with the streams it pulls in it is ~3.5 ms of CPU at every start, and a
 * memoized force names nothing and (unless its memo is signed) checks no signature.
 */
export function lazyCrypto(): typeof Crypto {
  return (crypto ??= createRequire(import.meta.url)('node:crypto') as typeof Crypto);
}

/** A SHA-256 hasher. */
function sha256(): Crypto.Hash {
  return lazyCrypto().createHash('sha256');
}

export const THUNK_MAGIC = '##GGTHUNK##';
const THUNK_MAGIC_BYTES = Buffer.from(THUNK_MAGIC, 'latin1');
const HASH_CHARS = 43;
const SHORT_SIZE_DIGITS = 8;
const LONG_SIZE_DIGITS = 16;
const SIZE_LIMIT_SHORT = 2 ** 32;

export type ObjectType = 'V' | 'T';

const NAME_RE = /^[VT][A-Za-z0-9._]{43}(?:[0-9a-f]{8}|[0-9a-f]{16})$/;
const TAG_RE = /^[^/\0#=]+$/;

export function isThunkContent(data: Uint8Array): boolean {
  if (data.length < THUNK_MAGIC_BYTES.length) return false;
  for (let i = 0; i < THUNK_MAGIC_BYTES.length; i++) if (data[i] !== THUNK_MAGIC_BYTES[i]) return false;
  return true;
}

/** Turn a finished SHA-256 and the object's size into a name. */
export function nameFromDigest(type: ObjectType, digest: Buffer, size: number): string {
  const hash = digest.toString('base64url').replace(/-/g, '.');
  const digits = size >= SIZE_LIMIT_SHORT ? LONG_SIZE_DIGITS : SHORT_SIZE_DIGITS;
  return type + hash + size.toString(16).padStart(digits, '0');
}

/** The name of an in-memory object; `T` when the content is a thunk. */
export function computeName(data: Uint8Array): string {
  const digest = sha256().update(data).digest();
  return nameFromDigest(isThunkContent(data) ? 'T' : 'V', digest, data.length);
}

/** Incremental naming for streamed content (large objects are never buffered whole). */
export class NameHasher {
  private readonly hash: Crypto.Hash = sha256();
  private size = 0;
  private head: Buffer = Buffer.alloc(0);

  update(chunk: Uint8Array): void {
    if (this.head.length < THUNK_MAGIC_BYTES.length) {
      this.head = Buffer.concat([
        this.head,
        Buffer.from(chunk.subarray(0, THUNK_MAGIC_BYTES.length - this.head.length)),
      ]);
    }
    this.hash.update(chunk);
    this.size += chunk.length;
  }

  get bytes(): number {
    return this.size;
  }

  digestName(): string {
    return nameFromDigest(isThunkContent(this.head) ? 'T' : 'V', this.hash.digest(), this.size);
  }
}

export function isValidName(name: string): boolean {
  return NAME_RE.test(name);
}

export function assertName(name: string, what = 'object name'): void {
  if (!isValidName(name)) {
    throw new GgError('GG_E_NAME_INVALID', `invalid ${what} '${name}'`, {
      hint: "a name is 'V' or 'T' + 43 base64url characters + 8 hex digits of size, e.g. VWJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM00000006",
    });
  }
}

export function nameType(name: string): ObjectType {
  return name[0] === 'T' ? 'T' : 'V';
}

export function isThunkName(name: string): boolean {
  return name[0] === 'T';
}

/** Size in bytes encoded in a name. */
export function nameSize(name: string): number {
  return parseInt(name.slice(1 + HASH_CHARS), 16);
}

/** A thunk output reference: `T...` (first output) or `T...#tag`. */
export interface OutputRef {
  name: string;
  tag: string | undefined;
}

export function splitTag(ref: string): OutputRef {
  const i = ref.indexOf('#');
  if (i < 0) return { name: ref, tag: undefined };
  return { name: ref.slice(0, i), tag: ref.slice(i + 1) };
}

export function joinTag(name: string, tag: string | undefined): string {
  return tag === undefined ? name : `${name}#${tag}`;
}

/** Output tags become file names in the working directory: no '/', no '..', nothing that can escape it. */
export function isSafeTag(tag: string): boolean {
  return TAG_RE.test(tag) && tag !== '.' && tag !== '..';
}

/**
 * What a memo entry may hold as a result, whichever store it comes from (a shared one is hostile input): a valid
 * name, tagged only if it is a thunk's (`T...#tag`: a value has no outputs) and only with a safe tag.
 */
export function isMemoResult(result: string): boolean {
  const { name, tag } = splitTag(result);
  return isValidName(name) && (tag === undefined || (isThunkName(name) && isSafeTag(tag)));
}

/** First 12 characters: enough to tell thunks apart in a status line. */
export function shortName(name: string): string {
  return name.slice(0, 12);
}
