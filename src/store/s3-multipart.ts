/**
 * S3 multipart upload that never buffers a part and never completes with the wrong bytes.
 *
 * Why not lib-storage's `Upload`: it copies every part into a Buffer (queueSize x partSize held at once; a 300 MiB
 * upload peaked at 215 MiB RSS with 8 MiB x 4), and it completes as soon as the body ends, leaving only a
 * stream-error trick to stop a wrong object from becoming visible. Here each part's body is a stream read straight
 * from its source with a known Content-Length, and CompleteMultipartUpload is sent only after the content was
 * proven to hash to the object's name:
 *  - file:   a first sequential pass hashes the whole file and each part; parts are then sent in parallel, each
 *            re-hashed on the way out and compared with the first pass (so a file that changed in between is caught;
 *            a failed part is simply re-read and re-sent).
 *  - buffer: parts are slices of it (no copy), sent in parallel; the name was computed from the buffer.
 *  - stream: parts are sent one after another, each a window onto the stream, hashing as it flows.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { PassThrough, type Readable, Transform, type TransformCallback } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { GgError, fromSystemError } from '../errors.js';
import { NameHasher, nameSize } from '../ir/name.js';
import { mapConcurrent } from './concurrency.js';

export type MultipartSource =
  { kind: 'file'; path: string } | { kind: 'buffer'; data: Buffer } | { kind: 'stream'; body: Readable };

export interface MultipartTarget {
  client: S3Client;
  bucket: string;
  key: string;
  /** The object's name: what the content must hash to. */
  name: string;
  partBytes: number;
  /** Parts in flight (file and buffer sources). */
  concurrency: number;
  /** Words for messages: where the data came from. */
  source: string;
}

const MAX_PARTS = 10_000;
const MIN_PART = 5 * 1024 * 1024;
const PART_ATTEMPTS = 3;

function mismatch(t: MultipartTarget, actual: string): GgError {
  return new GgError('GG_E_OBJECT_CORRUPT', `${t.source} does not match ${t.name} (${actual}); nothing was stored`, {
    hint: 'the data changed while it was being uploaded, or the local copy is damaged; run the command again',
  });
}

/** Part boundaries: partBytes each (raised if needed to stay within S3's 10,000 parts), the last one shorter. */
function planParts(size: number, partBytes: number): { start: number; length: number }[] {
  const part = Math.max(MIN_PART, partBytes, Math.ceil(size / MAX_PARTS));
  const parts: { start: number; length: number }[] = [];
  for (let start = 0; start < size; start += part) parts.push({ start, length: Math.min(part, size - start) });
  return parts;
}

class Sha256PassThrough extends Transform {
  private readonly hash = createHash('sha256');
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    cb(null, chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Upload `source` to `t.key` as one multipart object; resolves only once it is complete and verified. */
export async function multipartUpload(t: MultipartTarget, src: MultipartSource): Promise<void> {
  const size = nameSize(t.name);
  const parts = planParts(size, t.partBytes);

  // File: prove the content first, so nothing is sent for a file that does not match.
  let partHashes: string[] = [];
  if (src.kind === 'file') partHashes = await hashFileParts(t, src.path, parts);

  const created = await t.client.send(new CreateMultipartUploadCommand({ Bucket: t.bucket, Key: t.key }));
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId');
  const abort = (): Promise<unknown> =>
    t.client
      .send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId: uploadId }))
      .catch(() => undefined);

  const sendPart = async (
    partNumber: number,
    body: Readable | Buffer,
    length: number,
    abort?: AbortSignal,
  ): Promise<CompletedPart> => {
    const res = await t.client.send(
      new UploadPartCommand({
        Bucket: t.bucket,
        Key: t.key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: length,
      }),
      abort ? { abortSignal: abort } : {},
    );
    if (!res.ETag) throw new Error(`no ETag for part ${partNumber} (a proxy or CORS rule hiding response headers?)`);
    return { PartNumber: partNumber, ETag: res.ETag };
  };

  try {
    let completed: CompletedPart[];
    if (src.kind === 'buffer') {
      completed = await mapConcurrent(parts, t.concurrency, (p, i) =>
        sendPart(i + 1, src.data.subarray(p.start, p.start + p.length), p.length),
      );
    } else if (src.kind === 'file') {
      completed = await mapConcurrent(parts, t.concurrency, async (p, i) => {
        for (let attempt = 1; ; attempt++) {
          // A stream body cannot be replayed by the SDK's own retries: re-read the range instead.
          const hashing = new Sha256PassThrough();
          const body = fs.createReadStream(src.path, {
            start: p.start,
            end: p.start + p.length - 1,
            highWaterMark: 1024 * 1024,
          });
          // A body that fails does not end the HTTP request by itself: abort it, or it waits for the idle timeout.
          const stop = new AbortController();
          body.on('error', (e) => {
            hashing.destroy(e);
            stop.abort(e);
          });
          hashing.on('error', () => undefined); // surfaces through the request; unheard once the request is gone
          body.pipe(hashing);
          try {
            const done = await sendPart(i + 1, hashing, p.length, stop.signal);
            if (hashing.digest() !== partHashes[i]) throw mismatch(t, `part ${i + 1} changed during the upload`);
            return done;
          } catch (e) {
            body.destroy();
            if (e instanceof GgError || attempt >= PART_ATTEMPTS) throw e;
          }
        }
      });
    } else {
      completed = await uploadStreamParts(t, src.body, parts, size, sendPart);
    }
    await t.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: t.bucket,
        Key: t.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: completed },
      }),
    );
  } catch (e) {
    await abort();
    throw e;
  }
}

async function hashFileParts(
  t: MultipartTarget,
  file: string,
  parts: { start: number; length: number }[],
): Promise<string[]> {
  const whole = new NameHasher();
  const hashes: string[] = [];
  let part = createHash('sha256');
  let partIndex = 0;
  let inPart = 0;
  try {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      whole.update(chunk);
      let off = 0;
      while (off < chunk.length) {
        const want = (parts[partIndex]?.length ?? Number.POSITIVE_INFINITY) - inPart;
        const piece = chunk.subarray(off, off + want);
        part.update(piece);
        inPart += piece.length;
        off += piece.length;
        if (inPart === parts[partIndex]?.length) {
          hashes.push(part.digest('hex'));
          part = createHash('sha256');
          partIndex++;
          inPart = 0;
        }
      }
    }
  } catch (e) {
    throw fromSystemError(e, `reading ${file}`);
  }
  const actual = whole.digestName();
  if (actual !== t.name) throw mismatch(t, `it hashes to ${actual}`);
  return hashes;
}

/** Parts one after another, each a window of exactly its length onto the source stream. */
async function uploadStreamParts(
  t: MultipartTarget,
  body: Readable,
  parts: { start: number; length: number }[],
  size: number,
  sendPart: (n: number, body: Readable, length: number, abort: AbortSignal) => Promise<CompletedPart>,
): Promise<CompletedPart[]> {
  const hasher = new NameHasher();
  const chunks = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let carry: Buffer | undefined;
  let feedError: Error | undefined;
  /** Up to `max` bytes of the source (hashed), or undefined at its end. */
  const take = async (max: number): Promise<Buffer | undefined> => {
    let chunk = carry;
    carry = undefined;
    if (chunk === undefined) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (e) {
        throw fromSystemError(e, `reading ${t.source}`);
      }
      if (next.done) return undefined;
      chunk = next.value;
    }
    if (chunk.length > max) {
      carry = chunk.subarray(max);
      chunk = chunk.subarray(0, max);
    }
    hasher.update(chunk);
    return chunk;
  };
  const feed = async (window: PassThrough, length: number): Promise<void> => {
    let left = length;
    while (left > 0) {
      const chunk = await take(left);
      if (chunk === undefined) throw mismatch(t, `it has fewer than ${size} bytes`);
      left -= chunk.length;
      if (!window.write(chunk)) await new Promise<void>((r) => window.once('drain', r).once('close', r));
      if (window.destroyed) return; // the request failed; its error is reported below
    }
    window.end();
  };
  const done: CompletedPart[] = [];
  try {
    for (const [i, p] of parts.entries()) {
      const window = new PassThrough();
      window.on('error', () => undefined); // kept in feedError; the request may have stopped listening already
      const stop = new AbortController();
      const feeding = feed(window, p.length).catch((e: unknown) => {
        feedError ??= e instanceof Error ? e : new Error(String(e));
        window.destroy(feedError);
        stop.abort(); // a failed body does not end the request by itself
      });
      try {
        done.push(await sendPart(i + 1, window, p.length, stop.signal));
      } catch (e) {
        await feeding;
        throw feedError ?? e; // the source's own failure explains the request's
      }
      await feeding;
      if (feedError !== undefined) throw feedError;
    }
    if ((await take(1)) !== undefined) throw mismatch(t, `it has more than ${size} bytes`);
  } finally {
    body.destroy();
  }
  const actual = hasher.digestName();
  if (actual !== t.name) throw mismatch(t, `it hashes to ${actual}`);
  return done;
}
