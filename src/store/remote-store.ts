/**
 * What the remote backends (Redis, S3) share beyond the Store contract: a configuration check that runs before
 * any work, raw deletion (to drop corrupt copies), and the verified download path (temp file + hash + rename).
 */
import fs from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GgError, fromSystemError } from '../errors.js';
import { NameHasher, assertName, computeName, isMemoResult, splitTag } from '../ir/name.js';
import { hashFileUncached } from './hash-cache.js';
import type { PutResult, Store } from './store.js';

export { isRemoteStore, type RemoteStore } from './store.js';

export function missingObject(name: string, where: string): GgError {
  return new GgError('GG_E_OBJECT_MISSING', `object ${name} is not in ${where}`, {
    hint: 'upload it again from a machine that has it (gg force uploads missing inputs), or force the thunk that produces it',
  });
}

export function corruptObject(name: string, where: string, detail: string): GgError {
  return new GgError(
    'GG_E_OBJECT_CORRUPT',
    `object ${name} in ${where} is corrupt (${detail}); the bad copy was removed`,
    {
      hint: 'it will be re-uploaded from a machine that has it, or recomputed by gg force',
    },
  );
}

/** An I/O failure talking to a backend that was reachable at check time: worth retrying. */
export function storageIoError(e: unknown, what: string, where: string): GgError {
  if (e instanceof GgError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new GgError('GG_E_STORAGE_IO', `${what} on ${where} failed: ${msg}`, {
    hint: 'the storage server may be overloaded or the network down; the operation can be retried',
    retryable: true,
    cause: e,
  });
}

/**
 * A reduction's stored text is only a memo: anything that is not a valid name (optionally followed by a
 * signature, memo-signer.ts) is a miss, never an error. The signature is kept for the reader to check.
 */
export function parseReduction(text: string | null | undefined): string | undefined {
  if (text === null || text === undefined) return undefined;
  const value = text.trim();
  return isMemoValue(value) ? value : undefined;
}

const SIGNATURE_RE = /^ ggsig1:[A-Za-z0-9_-]{43}$/;

/** RESULT or `RESULT ggsig1:MAC`. */
export function isMemoValue(value: string): boolean {
  const sp = value.indexOf(' ');
  const result = sp < 0 ? value : value.slice(0, sp);
  return isMemoResult(result) && (sp < 0 || SIGNATURE_RE.test(value.slice(sp)));
}

export function assertMemoValue(value: string): void {
  if (!isMemoValue(value)) assertName(value, 'memo result');
}

export function assertRef(ref: string): void {
  assertName(splitTag(ref).name, 'thunk reference');
}

/** Every entry a valid reference and memo value (before anything is written). */
export function assertEntries(entries: readonly (readonly [ref: string, value: string])[]): void {
  for (const [ref, value] of entries) {
    assertRef(ref);
    assertMemoValue(value);
  }
}

/**
 * Hashes (and counts) everything that flows through it. With `expectedName`, it fails at the end of the data when
 * the bytes do not hash to that name, so a consumer (an upload) never completes with the wrong content; with
 * `holdLastByte` as well, the very last byte is released only after that check, so a request that needs all of
 * its Content-Length (a single S3 PUT) cannot complete with bytes that were not verified.
 */
export class HashingPassThrough extends Transform {
  readonly hasher = new NameHasher();
  private held: Buffer | undefined;

  constructor(
    private readonly maxBytes = Number.POSITIVE_INFINITY,
    private readonly expectedName?: string,
    private readonly source = 'the data',
    private readonly holdLastByte = false,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hasher.update(chunk);
    // More bytes than the name promises: stop early instead of sending or writing a bad copy.
    if (this.hasher.bytes > this.maxBytes) {
      return cb(
        new GgError(
          'GG_E_OBJECT_CORRUPT',
          `${this.source} has more than the ${this.maxBytes} bytes its name says; nothing was stored`,
          {
            hint: 'the data changed while it was being uploaded, or the local copy is damaged; run the command again',
          },
        ),
      );
    }
    if (!this.holdLastByte || chunk.length === 0) return cb(null, chunk);
    if (this.held) this.push(this.held);
    this.held = chunk.subarray(chunk.length - 1);
    cb(null, chunk.subarray(0, chunk.length - 1));
  }

  override _flush(cb: TransformCallback): void {
    if (this.expectedName !== undefined) {
      const actual = this.hasher.digestName();
      if (actual !== this.expectedName) {
        return cb(
          new GgError(
            'GG_E_OBJECT_CORRUPT',
            `${this.source} does not match ${this.expectedName} (it hashes to ${actual}); nothing was stored`,
            {
              hint: 'the data changed while it was being uploaded, or the local copy is damaged; run the command again',
            },
          ),
        );
      }
    }
    cb(null, this.held);
  }
}

let tmpCounter = 0;

/**
 * Stream `source` into `dest` through a temp file beside it; the temp file becomes `dest` only if the content hashes
 * to `name`. Otherwise `onCorrupt` runs (to drop the remote copy) and GG_E_OBJECT_CORRUPT is thrown.
 */
export async function receiveVerified(
  name: string,
  dest: string,
  source: NodeJS.ReadableStream | AsyncIterable<Uint8Array>,
  where: string,
  onCorrupt: () => Promise<void>,
  expectedSize: number,
  mode?: number,
): Promise<void> {
  const tmp = `${dest}.gg-tmp-${process.pid}-${(tmpCounter++).toString(36)}`;
  const hashing = new HashingPassThrough(expectedSize);
  try {
    await pipeline(source, hashing, fs.createWriteStream(tmp, { mode: 0o644 }));
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    if (hashing.hasher.bytes > expectedSize) {
      await onCorrupt();
      throw corruptObject(name, where, `it has more than the ${expectedSize} bytes its name says`);
    }
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC' || (e as NodeJS.ErrnoException).code === 'EDQUOT')
      throw fromSystemError(e, `writing ${dest}`);
    throw storageIoError(e, `downloading ${name}`, where);
  }
  const actual = hashing.hasher.digestName();
  if (actual !== name) {
    fs.rmSync(tmp, { force: true });
    await onCorrupt();
    throw corruptObject(name, where, `its ${hashing.hasher.bytes} bytes hash to ${actual}`);
  }
  try {
    if (mode !== undefined) fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, dest);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw fromSystemError(e, `writing ${dest}`);
  }
}

/**
 * putFile as every remote store does it: a file up to `wholeBytes` is read, checked against `name` when given,
 * and sent through `put`; a larger one is hashed first (its key must be known before the upload starts), skipped
 * when the store has it, and streamed by `upload`, which verifies the bytes again (the file may change meanwhile).
 */
export async function putFileVia(
  store: Pick<Store, 'put' | 'has'>,
  file: string,
  name: string | undefined,
  wholeBytes: number,
  upload: (expected: string, size: number) => Promise<void>,
): Promise<PutResult> {
  if (name !== undefined) assertName(name);
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (e) {
    throw fromSystemError(e, `reading ${file}`);
  }
  if (size <= wholeBytes) {
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch (e) {
      throw fromSystemError(e, `reading ${file}`);
    }
    const actual = name === undefined ? undefined : computeName(data);
    if (actual !== undefined && actual !== name) {
      throw new GgError(
        'GG_E_OBJECT_CORRUPT',
        `${file} does not match ${name} (it hashes to ${actual}); nothing was stored`,
        {
          hint: 'the file changed while it was being stored, or the local copy is damaged; run the command again',
        },
      );
    }
    return store.put(data);
  }
  let expected: string;
  try {
    expected = name ?? hashFileUncached(file);
  } catch (e) {
    throw fromSystemError(e, `reading ${file}`);
  }
  if (await store.has(expected)) return { name: expected, written: false };
  await upload(expected, size);
  return { name: expected, written: true };
}
