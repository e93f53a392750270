/**
 * Signed memo entries for shared stores. Whoever can write a shared memo can map an honest thunk to any
 * result, including an attacker's thunk that every reader would then run (the dynamic-graph rule). With a key
 * shared by the trusted writers (CI), each remote entry carries an HMAC-SHA256 of (ref, result), and readers
 * holding the key ignore, and count, every entry that is unsigned or badly signed: a miss, never a result.
 * Without a key, entries are taken as they are (signatures are stripped unchecked): trust is then the store's
 * access control (docs/SECURITY.md).
 *
 * Stored value: `RESULT` or `RESULT ggsig1:<base64url HMAC-SHA256(key, "gg-memo-v1\0" REF "\0" RESULT)>`.
 */
import fs from 'node:fs';
import { GgError } from '../errors.js';
import { lazyCrypto as crypto } from '../ir/name.js';

const PREFIX = ' ggsig1:';
/** Shorter keys are refused: an HMAC is only as strong as its key. */
const MIN_KEY_BYTES = 16;

export class MemoSigner {
  /** Entries ignored because their signature was missing or wrong. */
  rejected = 0;

  constructor(private readonly key: Buffer | undefined) {
    if (key !== undefined && key.length < MIN_KEY_BYTES) {
      throw new GgError(
        'GG_E_USAGE',
        `the memo signing key has ${key.length} bytes; at least ${MIN_KEY_BYTES} are needed`,
        {
          hint: 'make one with: head -c 32 /dev/urandom > memo.key (and give it to trusted writers and readers only)',
        },
      );
    }
  }

  get signing(): boolean {
    return this.key !== undefined;
  }

  private mac(ref: string, result: string): string {
    return crypto().createHmac('sha256', this.key!).update(`gg-memo-v1\0${ref}\0${result}`).digest('base64url');
  }

  /** The value to store for (ref, result). */
  seal(ref: string, result: string): string {
    return this.key === undefined ? result : `${result}${PREFIX}${this.mac(ref, result)}`;
  }

  /** The result a stored value gives, or undefined when it must be ignored. */
  open(ref: string, value: string | undefined): string | undefined {
    if (value === undefined) return undefined;
    const at = value.indexOf(PREFIX);
    const result = at < 0 ? value : value.slice(0, at);
    if (this.key === undefined) return result;
    const given = at < 0 ? undefined : Buffer.from(value.slice(at + PREFIX.length), 'base64url');
    const want = Buffer.from(this.mac(ref, result), 'base64url');
    if (given === undefined || given.length !== want.length || !crypto().timingSafeEqual(given, want)) {
      this.rejected++;
      return undefined;
    }
    return result;
  }
}

/** The key from --memo-key-file / $GG_MEMO_KEY_FILE (raw bytes of the file; whitespace around it is trimmed). */
export function readMemoKey(file: string | undefined): Buffer | undefined {
  if (file === undefined || file === '') return undefined;
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    throw new GgError('GG_E_FILE_NOT_FOUND', `cannot read the memo signing key ${file}: ${(e as Error).message}`, {
      hint: 'give a readable key file (--memo-key-file or GG_MEMO_KEY_FILE)',
      cause: e,
    });
  }
  const text = data.toString('latin1');
  const trimmed = text.trim();
  return trimmed.length === text.length ? data : Buffer.from(trimmed, 'latin1');
}
