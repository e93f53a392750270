/**
 * Objects and reductions in an S3 bucket (AWS, or any S3-compatible service through `endpoint=`, including Google
 * Cloud Storage at https://storage.googleapis.com with HMAC keys), over @aws-sdk/client-s3.
 *
 * Key layout (docs/STORAGE.md):
 *   PREFIX + NAME               the object's bytes (with no prefix: the name itself, as gg does)
 *   PREFIX + reductions/REF     the name REF (`T...` or `T...#tag`) reduced to, as text
 *
 * Uploads up to 64 MiB are one PutObject; a file or stream body is streamed into it with its last byte held back
 * until the content hashed to the name. Larger objects are multipart (s3-multipart.ts: parts streamed from the
 * file, buffer or stream they come from, never buffered), and CompleteMultipartUpload is sent only once the content
 * is proven to hash to the name. Either way a wrong object never becomes visible. Downloads stream into a temp file that is
 * renamed only once verified; a copy that does not match its name is deleted and reported (GG_E_OBJECT_CORRUPT).
 * Credentials come from the SDK's standard chain (env, ~/.aws, SSO, web identity, ECS/EC2 metadata).
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { GgError, fromSystemError } from '../errors.js';
import { NameHasher, assertName, computeName, nameSize } from '../ir/name.js';
import { mapConcurrent } from './concurrency.js';
import { multipartUpload, type MultipartSource } from './s3-multipart.js';
import { classifyS3Error, errorFacts, isConfigurationError, isNotFound, listBucketDenied } from './s3-errors.js';
import { parseS3Uri, type S3Location, GCS_ENDPOINT } from './s3-uri.js';
import type { PutResult } from './store.js';
import { trustExtraCaCerts } from './tls-trust.js';
import {
  HashingPassThrough,
  assertRef,
  corruptObject,
  missingObject,
  assertMemoValue,
  parseReduction,
  receiveVerified,
  storageIoError,
  type RemoteStore,
  putFileVia,
} from './remote-store.js';

// Importers of the URI parsing through the store (tests) keep working.
export { GCS_ENDPOINT, parseS3Uri };

export const REDUCTIONS_DIR = 'reductions/';

export interface S3StoreOptions extends S3Location {
  /** Requests in flight for batched operations (existence checks, reductions). */
  concurrency?: number;
  /** Multipart part size and parts in flight (parts are streamed, not buffered: memory does not grow with them). */
  partBytes?: number;
  queueSize?: number;
  /** Objects up to this size go up in one PutObject (files and streams streamed into it); larger ones multipart. */
  multipartAboveBytes?: number;
  connectTimeoutMs?: number;
  /** Extra SDK client configuration (tests: explicit credentials). */
  clientConfig?: Partial<S3ClientConfig>;
}

const DEFAULTS = {
  concurrency: 64,
  partBytes: 8 * 1024 * 1024,
  queueSize: 4,
  multipartAboveBytes: 64 * 1024 * 1024,
  connectTimeoutMs: 3000,
};

/** hasMany lists the prefix instead of asking name by name once a batch is at least this big. */
const LIST_MIN_NAMES = 200;
/** The empty object (what the check writes), and a key no object can have (what it looks up). */
const EMPTY_OBJECT = computeName(Buffer.alloc(0));
const NEVER_AN_OBJECT = 'gg-check-missing-object';
/** The configuration check's whole budget (HeadBucket on S3 answers in well under a second). */
const CHECK_TIMEOUT_MS = 5000;
/** Files up to this size are read whole and sent from memory. */
const SMALL_FILE = 1024 * 1024;

export class S3Store implements RemoteStore {
  readonly kind = 's3' as const;
  readonly description: string;
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  private readonly opts: S3StoreOptions & typeof DEFAULTS;
  private readonly config: S3ClientConfig;

  constructor(options: S3StoreOptions) {
    this.opts = { ...DEFAULTS, ...options };
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.description = `s3://${options.bucket}/${options.prefix}${options.endpoint ? ` at ${options.endpoint}` : ''}`;
    // The SDK warns on every Node < 22 process; gg supports Node 20 and the warning would pollute every command.
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    const agent = { keepAlive: true, maxSockets: this.opts.concurrency };
    this.config = {
      region: options.region,
      followRegionRedirects: true,
      // Our own SHA-256 check covers integrity end to end; the SDK's default CRC trailers (aws-chunked) are not
      // understood by several S3-compatible services (GCS, s3rver, older MinIO).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // The SDK's default logger writes to the console (e.g. on any failed streamed part); every failure already
      // reaches the caller as a GgError, so stay quiet.
      logger: {
        trace: () => undefined,
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      },
      requestHandler: {
        connectionTimeout: this.opts.connectTimeoutMs,
        socketTimeout: 120_000,
        httpAgent: agent,
        httpsAgent: agent,
      },
      ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
      ...options.clientConfig,
    };
    trustExtraCaCerts(); // NODE_EXTRA_CA_CERTS, for this client and the SDK's credential clients
    this.client = new S3Client(this.config);
  }

  static fromUri(uri: string, overrides: Partial<S3StoreOptions> = {}): S3Store {
    return new S3Store({ ...parseS3Uri(uri), ...overrides });
  }

  key(name: string): string {
    return this.prefix + name;
  }

  reductionKey(ref: string): string {
    return this.prefix + REDUCTIONS_DIR + ref;
  }

  /**
   * Three requests: HeadBucket (reachable, credentials accepted, bucket present); PutObject of the empty object
   * (content-addressed, so harmless: proves we may write); HeadObject of a name that cannot exist, which must be a
   * 404: without s3:ListBucket, S3 answers 403 for every missing object and nothing would work.
   */
  async check(o: { readOnly?: boolean } = {}): Promise<void> {
    const probe = new S3Client({ ...this.config, maxAttempts: 1 });
    // The connection timeout covers the TCP handshake only; a server that accepts and never answers must not hang
    // the run either.
    const within = { abortSignal: AbortSignal.timeout(CHECK_TIMEOUT_MS) };
    try {
      await probe.send(new HeadBucketCommand({ Bucket: this.bucket }), within);
      if (!o.readOnly)
        await probe.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.key(EMPTY_OBJECT),
            Body: Buffer.alloc(0),
            ContentLength: 0,
          }),
          within,
        );
      await probe
        .send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(NEVER_AN_OBJECT) }), within)
        .catch((e: unknown) => {
          if (isNotFound(e)) return;
          if (errorFacts(e).status === 403) throw listBucketDenied(this.bucket, e);
          throw e;
        });
    } catch (e) {
      throw this.classify(e);
    } finally {
      probe.destroy();
    }
  }

  private classify(e: unknown): GgError {
    return classifyS3Error(e, {
      description: this.description,
      bucket: this.bucket,
      region: this.opts.region,
      endpoint: this.opts.endpoint,
      checkTimeoutMs: CHECK_TIMEOUT_MS,
    });
  }

  private async call<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      throw this.mapError(e, what);
    }
  }

  /** Configuration problems keep their GG_E_STORAGE_* code; anything else is retryable I/O. */
  private mapError(e: unknown, what: string): GgError {
    if (e instanceof GgError) return e;
    if (isConfigurationError(e)) return this.classify(e);
    return storageIoError(e, what, this.description);
  }

  async has(name: string): Promise<boolean> {
    assertName(name);
    return this.call(`checking ${name}`, async () => {
      try {
        await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
    });
  }

  /**
   * Listing the prefix answers 1,000 names per request but covers the whole bucket; HEAD answers one name per
   * request. Both run at once over the sorted names: the listing from the bottom, HEADs from the top, and whatever
   * each has answered the other skips. A bucket not much larger than the batch is answered mostly by the listing,
   * a huge one mostly by HEADs, with no guess about the bucket's size.
   */
  async hasMany(names: readonly string[]): Promise<boolean[]> {
    for (const n of names) assertName(n);
    const unique = [...new Set(names)].sort();
    const answer = new Map<string, boolean>();
    if (unique.length < LIST_MIN_NAMES) {
      const found = await mapConcurrent(unique, this.opts.concurrency, (n) => this.has(n));
      unique.forEach((n, i) => answer.set(n, found[i] as boolean));
      return names.map((n) => answer.get(n) as boolean);
    }
    let lo = 0; // names below lo are answered by the listing
    let hi = unique.length; // names at or above hi are taken by HEAD workers
    const lister = async (): Promise<void> => {
      const first = this.key(unique[0] as string);
      let startAfter: string | undefined = first.slice(0, -1); // just before the smallest key
      let token: string | undefined;
      while (lo < hi) {
        // Listing is an optimisation: on a service that fails it (s3rver without the OpenSSL legacy provider, a
        // proxy that blocks it), the HEAD workers simply answer the rest.
        const page = await this.client
          .send(
            new ListObjectsV2Command({
              Bucket: this.bucket,
              Prefix: this.prefix,
              MaxKeys: 1000,
              ...(token ? { ContinuationToken: token } : { StartAfter: startAfter }),
            }),
          )
          .catch(() => undefined);
        if (page === undefined) return;
        const keys = new Set((page.Contents ?? []).map((o) => o.Key ?? ''));
        const done = !page.IsTruncated;
        const lastKey = page.Contents?.at(-1)?.Key ?? '';
        while (lo < hi) {
          const n = unique[lo] as string;
          const k = this.key(n);
          if (!done && k > lastKey) break;
          answer.set(n, keys.has(k));
          lo++;
        }
        if (done) return;
        token = page.NextContinuationToken;
        startAfter = undefined;
        if (!token) return; // a service without continuation tokens: leave the rest to HEADs
      }
    };
    const header = async (): Promise<void> => {
      while (hi > lo) {
        const n = unique[--hi] as string;
        answer.set(n, await this.has(n));
      }
    };
    const workers = [lister()];
    for (let i = 0; i < this.opts.concurrency; i++) workers.push(header());
    await Promise.all(workers);
    return names.map((n) => answer.get(n) as boolean);
  }

  async delete(name: string): Promise<void> {
    assertName(name);
    await this.call(`deleting ${name}`, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(name) })),
    );
  }

  /** Drop a copy that failed verification (a concurrent correct re-upload may be dropped too: only a later miss). */
  private async dropCorrupt(name: string): Promise<void> {
    await this.client
      .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(name) }))
      .catch(() => undefined);
  }

  /** GetObject with the length the name promises checked before any byte is read. */
  private async open(name: string): Promise<Readable> {
    const res: GetObjectCommandOutput = await this.call(`reading ${name}`, async () => {
      try {
        return await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) }));
      } catch (e) {
        if (isNotFound(e)) throw missingObject(name, this.description);
        throw e;
      }
    });
    // In Node the SDK's body is an http.IncomingMessage (a Readable) behind its SdkStream mixin.
    const body = res.Body as Readable | undefined;
    const size = nameSize(name);
    if (res.ContentLength !== undefined && res.ContentLength !== size) {
      body?.destroy();
      await this.dropCorrupt(name);
      throw corruptObject(name, this.description, `it holds ${res.ContentLength} bytes, its name says ${size}`);
    }
    if (body === undefined)
      throw storageIoError(new Error('no body in the response'), `reading ${name}`, this.description);
    return body;
  }

  async get(name: string): Promise<Buffer> {
    assertName(name);
    const body = await this.open(name);
    const size = nameSize(name);
    // Into one buffer of the promised size (the length was checked), hashed while the rest is still arriving.
    const data = Buffer.allocUnsafe(size);
    const hasher = new NameHasher();
    let got = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (got + chunk.length > size) {
          got += chunk.length;
          break;
        }
        hasher.update(chunk);
        chunk.copy(data, got);
        got += chunk.length;
      }
    } catch (e) {
      throw storageIoError(e, `reading ${name}`, this.description);
    }
    const actual = got > size ? `more than ${size} bytes` : got < size ? `only ${got} bytes` : hasher.digestName();
    if (actual !== name) {
      await this.dropCorrupt(name);
      throw corruptObject(name, this.description, got === size ? `its bytes hash to ${actual}` : `it has ${actual}`);
    }
    return data;
  }

  async getToFile(name: string, dest: string, mode?: number): Promise<void> {
    assertName(name);
    const body = await this.open(name);
    await receiveVerified(name, dest, body, this.description, () => this.dropCorrupt(name), nameSize(name), mode);
  }

  async put(data: Buffer): Promise<PutResult> {
    const name = computeName(data);
    if (data.length <= this.opts.multipartAboveBytes) {
      await this.call(`storing ${name}`, () =>
        this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: this.key(name), Body: data, ContentLength: data.length }),
        ),
      );
    } else {
      await this.multipart(name, { kind: 'buffer', data });
    }
    // No HEAD first (it would double the requests for small objects): re-writing identical bytes is harmless.
    return { name, written: true };
  }

  async putFile(file: string, name?: string): Promise<PutResult> {
    return putFileVia(this, file, name, SMALL_FILE, async (expected, size) => {
      if (size <= this.opts.multipartAboveBytes)
        await this.streamedPut(expected, fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), file);
      else await this.multipart(expected, { kind: 'file', path: file }, file);
    });
  }

  async putStream(name: string, body: Readable): Promise<PutResult> {
    assertName(name);
    if (await this.has(name)) {
      body.resume();
      return { name, written: false };
    }
    if (nameSize(name) <= this.opts.multipartAboveBytes) await this.streamedPut(name, body, `the stream for ${name}`);
    else await this.multipart(name, { kind: 'stream', body }, `the stream for ${name}`);
    return { name, written: true };
  }

  /**
   * One PutObject whose body streams from `body`, hashed on the way; its last byte is held back until the hash
   * matched (HashingPassThrough), so S3 never receives a complete request carrying the wrong bytes.
   */
  private async streamedPut(name: string, body: Readable, source: string): Promise<void> {
    const size = nameSize(name);
    const check = new HashingPassThrough(size, name, source, true);
    const stop = new AbortController(); // a failed body does not end the HTTP request by itself
    let bodyError: unknown;
    const piping = pipeline(body, check).catch((e: unknown) => {
      bodyError = e;
      stop.abort();
    });
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.key(name), Body: check, ContentLength: size }),
        {
          abortSignal: stop.signal,
        },
      );
    } catch (e) {
      body.destroy();
      check.destroy();
      await piping;
      // S3 and GCS store nothing for a PUT cut short, but some S3-compatible servers (s3rver) keep what arrived.
      // The object was absent when we started, so whatever is there now is at best our partial copy.
      await this.dropCorrupt(name);
      if (bodyError instanceof GgError) throw bodyError;
      if (bodyError !== undefined && (bodyError as NodeJS.ErrnoException).syscall !== undefined)
        throw fromSystemError(bodyError, `reading ${source}`);
      throw this.mapError(e, `storing ${name}`);
    }
    await piping;
  }

  /** Multipart upload (s3-multipart.ts): parts streamed from their source, completed only once verified. */
  private async multipart(name: string, source: MultipartSource, what = 'the data'): Promise<void> {
    await this.call(`storing ${name}`, () =>
      multipartUpload(
        {
          client: this.client,
          bucket: this.bucket,
          key: this.key(name),
          name,
          partBytes: this.opts.partBytes,
          concurrency: this.opts.queueSize,
          source: what,
        },
        source,
      ),
    );
  }

  async getReduction(ref: string): Promise<string | undefined> {
    assertRef(ref);
    return this.call(`looking up ${ref}`, async () => {
      try {
        const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.reductionKey(ref) }));
        return parseReduction(await res.Body?.transformToString('latin1'));
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    });
  }

  async getReductions(refs: readonly string[]): Promise<(string | undefined)[]> {
    for (const r of refs) assertRef(r);
    return mapConcurrent(refs, this.opts.concurrency, (r) => this.getReduction(r));
  }

  async putReduction(ref: string, result: string): Promise<void> {
    assertRef(ref);
    assertMemoValue(result);
    await this.call(`recording the result of ${ref}`, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.reductionKey(ref),
          Body: result,
          ContentType: 'text/plain',
        }),
      ),
    );
  }

  async deleteReduction(ref: string): Promise<void> {
    assertRef(ref);
    await this.call(`dropping the memo entry of ${ref}`, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.reductionKey(ref) })),
    );
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
