/**
 * A local .gg cache in front of a remote store (Redis, S3). Reads: local first, else a verified download that
 * lands in the local cache. Writes: both. Reductions: local first, then remote; a remote hit is copied locally.
 *
 * It keeps no belief about what the remote holds: every "is it there?" is a fresh question to the remote, so a
 * remote that lost objects (flushed, bucket emptied, lifecycle rules) is noticed and repaired from local copies
 * (see `ensureRemote`, `getReduction`) instead of breaking later runs, which was gg's stale-upload-index bug.
 */
import type { Readable } from 'node:stream';
import { isGgError } from '../errors.js';
import { assertName, nameSize, splitTag } from '../ir/name.js';
import type { LocalStore } from './local-store.js';
import { MemoSigner } from './memo-signer.js';
import { putAllReductions, type PutResult, type Store } from './store.js';
import { uploadMissing, type UploadOptions, type UploadReport } from './upload.js';

/** Objects up to this size are fetched into memory in one request; larger ones stream to a file. */
const IN_MEMORY_BYTES = 4 * 1024 * 1024;

export interface TieredStoreOptions {
  /** Signs what we write to the remote memo and, with a key, ignores remote entries not signed with it. */
  signer?: MemoSigner;
  /** Never write to the remote (objects, memo, repairs): a reader of a cache that trusted writers fill. */
  readOnly?: boolean;
}

export class TieredStore implements Store {
  readonly description: string;
  readonly signer: MemoSigner;
  readonly readOnly: boolean;

  constructor(
    readonly local: LocalStore,
    readonly remote: Store,
    o: TieredStoreOptions = {},
  ) {
    this.signer = o.signer ?? new MemoSigner(undefined);
    this.readOnly = o.readOnly ?? false;
    this.description = `${remote.description}${this.readOnly ? ' (read-only)' : ''} (cached in ${local.ggDir})`;
  }

  async has(name: string): Promise<boolean> {
    return this.local.hasSync(name) || (await this.remote.has(name));
  }

  async hasMany(names: readonly string[]): Promise<boolean[]> {
    const answers = names.map((n) => this.local.hasSync(n));
    const ask = names.filter((_, i) => !answers[i]);
    if (ask.length === 0) return answers;
    const remote = await this.remote.hasMany(ask);
    let j = 0;
    return answers.map((a) => a || (remote[j++] as boolean));
  }

  /** Make sure the object is in the local cache (downloading and verifying it if needed). */
  async fetch(name: string): Promise<void> {
    assertName(name);
    if (this.local.hasSync(name)) return;
    if (nameSize(name) <= IN_MEMORY_BYTES) {
      this.local.putSync(await this.remote.get(name));
      return;
    }
    const tmp = this.local.tempPath('dl');
    await this.remote.getToFile(name, tmp); // verified by the remote store before it lands at tmp
    this.local.adoptFile(tmp, name);
  }

  async get(name: string): Promise<Buffer> {
    if (!this.local.hasSync(name)) {
      if (nameSize(name) <= IN_MEMORY_BYTES) {
        const data = await this.remote.get(name);
        this.local.putSync(data);
        return data;
      }
      await this.fetch(name);
    }
    try {
      return this.local.getSync(name);
    } catch (e) {
      // The local copy was corrupt (and removed): the remote may still have a good one.
      if (!isGgError(e, 'GG_E_OBJECT_CORRUPT')) throw e;
      await this.fetch(name);
      return this.local.getSync(name);
    }
  }

  async getToFile(name: string, dest: string, mode?: number): Promise<void> {
    await this.fetch(name);
    try {
      await this.local.getToFile(name, dest, mode);
    } catch (e) {
      if (!isGgError(e, 'GG_E_OBJECT_CORRUPT')) throw e;
      await this.fetch(name);
      await this.local.getToFile(name, dest, mode);
    }
  }

  async put(data: Buffer): Promise<PutResult> {
    const local = this.local.putSync(data);
    if (this.readOnly) return local;
    const remote = await this.remote.put(data);
    return { name: local.name, written: local.written || remote.written };
  }

  async putFile(file: string, name?: string): Promise<PutResult> {
    const local = this.local.putFileSync(file, name);
    if (this.readOnly) return local;
    // Upload from the blob (read-only, verified on the way) rather than the user's file, which may change.
    const remote = await this.remote.putFile(this.local.blobPath(local.name), local.name);
    return { name: local.name, written: local.written || remote.written };
  }

  async putStream(name: string, body: Readable): Promise<PutResult> {
    const local = await this.local.putStream(name, body);
    if (this.readOnly) return local;
    const remote = await this.remote.putFile(this.local.blobPath(name), name);
    return { name, written: local.written || remote.written };
  }

  /** Upload whatever of `names` the remote lacks (fresh existence checks, never a remembered list). */
  async ensureRemote(names: readonly string[], opts: UploadOptions = {}): Promise<UploadReport> {
    if (this.readOnly) return uploadMissing([], this.local, this.remote, opts);
    return uploadMissing(names, this.local, this.remote, opts);
  }

  async getReduction(ref: string): Promise<string | undefined> {
    return (await this.getReductions([ref]))[0];
  }

  /**
   * Local memo first. A remote entry is used only if its result object can still be had (locally or remotely): a
   * shared memo pointing at an object the remote lost would otherwise send every machine to a download that fails.
   * If only we still hold the result, it is re-uploaded so the shared memo works for others again.
   */
  async getReductions(refs: readonly string[]): Promise<(string | undefined)[]> {
    const results = await this.local.getReductions(refs);
    const missIdx = results.flatMap((r, i) => (r === undefined ? [i] : []));
    if (missIdx.length === 0) return results;
    const asked = missIdx.map((i) => refs[i] as string);
    const fromRemote = (await this.remote.getReductions(asked)).map((v, k) => this.signer.open(asked[k]!, v));
    const hits = missIdx.flatMap((refIdx, k) =>
      fromRemote[k] === undefined ? [] : [{ refIdx, result: fromRemote[k] }],
    );
    if (hits.length === 0) return results;
    const objects = hits.map((h) => splitTag(h.result).name);
    const remoteHas = await this.remote.hasMany(objects);
    const repair: string[] = [];
    hits.forEach((h, k) => {
      const obj = objects[k] as string;
      const localHas = this.local.hasSync(obj);
      if (!remoteHas[k] && !localHas) return; // a dangling memo entry: a miss, the thunk will be recomputed
      if (!remoteHas[k]) repair.push(obj);
      results[h.refIdx] = h.result;
      this.local.putReductionSync(refs[h.refIdx] as string, h.result);
    });
    if (repair.length > 0 && !this.readOnly) await uploadMissing(repair, this.local, this.remote);
    return results;
  }

  /** The result object goes up before the memo entry, so no other machine ever sees an entry it cannot use. */
  async putReduction(ref: string, result: string): Promise<void> {
    this.local.putReductionSync(ref, result);
    if (this.readOnly) return;
    const obj = splitTag(result).name;
    if (this.local.hasSync(obj)) await uploadMissing([obj], this.local, this.remote);
    await this.remote.putReduction(ref, this.signer.seal(ref, result));
  }

  /** A bad entry (a cycle) goes from the local memo, and from the remote unless we never write there. */
  async deleteReduction(ref: string): Promise<void> {
    await this.local.deleteReduction(ref);
    if (!this.readOnly) await this.remote.deleteReduction?.(ref);
  }

  /** A thunk's entries at once: each distinct result object is checked (and uploaded if missing) only once. */
  async putReductions(entries: readonly (readonly [string, string])[]): Promise<void> {
    await this.local.putReductions(entries);
    if (this.readOnly) return;
    const objects = [...new Set(entries.map(([, result]) => splitTag(result).name))].filter((o) =>
      this.local.hasSync(o),
    );
    if (objects.length > 0) await uploadMissing(objects, this.local, this.remote);
    await this.putRemote(entries);
  }

  private async putRemote(entries: readonly (readonly [string, string])[]): Promise<void> {
    const sealed = entries.map(([ref, result]): [string, string] => [ref, this.signer.seal(ref, result)]);
    await putAllReductions(this.remote, sealed);
  }

  /**
   * Recorded remotely by a worker already: re-recorded only to add the signature they lack. Not copied into
   * the local memo now (a file per entry, the largest cost of a cluster client's thunk): getReductions copies
   * a remote hit the first time it is asked for.
   */
  async noteReductions(entries: readonly (readonly [string, string])[], signed: boolean): Promise<void> {
    if (this.readOnly || signed || !this.signer.signing) return;
    await this.putRemote(entries);
  }

  async close(): Promise<void> {
    await Promise.all([this.local.close(), this.remote.close()]);
  }
}
