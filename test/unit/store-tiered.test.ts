/**
 * TieredStore + uploadMissing over both remote backends (real redis-server and s3rver): two machines (two .gg dirs)
 * sharing one remote, a remote that loses or damages objects, and the bulk upload with progress.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { isGgError } from '../../src/errors.js';
import { computeName, nameSize } from '../../src/ir/name.js';
import { openStore } from '../../src/store/open-store.js';
import type { RemoteStore } from '../../src/store/remote-store.js';
import { TieredStore } from '../../src/store/tiered-store.js';
import { uploadMissing, type UploadProgress } from '../../src/store/upload.js';
import { startRedis, startS3, useS3Credentials, type RunningS3, type RunningServer } from '../helpers/servers.js';
import { cleanupTemps, randomFile, randomObject, tempDir, tempLocalStore } from '../helpers/store-fixtures.js';

const MiB = 1024 * 1024;

/** Raw access to the backend behind the store, to damage it the way the world does. */
interface RemoteAdmin {
  uri: string;
  empty(): Promise<void>;
  overwrite(name: string, bytes: Buffer): Promise<void>;
  close(): Promise<void>;
}

async function redisBackend(): Promise<{ admin: RemoteAdmin; stop(): Promise<void> }> {
  const server: RunningServer = await startRedis({ password: 'pw' });
  const raw = new Redis({ host: server.host, port: server.port, password: 'pw', protocol: 2 });
  return {
    admin: {
      uri: server.uri,
      empty: async () => void (await raw.flushall()),
      overwrite: async (name, bytes) => void (await raw.set(name, bytes)),
      close: async () => raw.disconnect(),
    },
    stop: () => server.stop(),
  };
}

async function s3Backend(): Promise<{ admin: RemoteAdmin; stop(): Promise<void> }> {
  useS3Credentials();
  const server: RunningS3 = await startS3();
  const raw = new S3Client({
    region: 'us-east-1',
    endpoint: server.endpoint,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  return {
    admin: {
      uri: server.uri,
      empty: async () => {
        for (;;) {
          const page = await raw.send(new ListObjectsV2Command({ Bucket: server.bucket }));
          const keys = (page.Contents ?? []).map((o) => o.Key as string);
          if (keys.length === 0) return;
          await Promise.all(keys.map((Key) => raw.send(new DeleteObjectCommand({ Bucket: server.bucket, Key }))));
        }
      },
      overwrite: async (name, bytes) =>
        void (await raw.send(new PutObjectCommand({ Bucket: server.bucket, Key: name, Body: bytes }))),
      close: async () => raw.destroy(),
    },
    stop: () => server.stop(),
  };
}

for (const [label, start] of [
  ['redis', redisBackend],
  ['s3', s3Backend],
] as const) {
  describe(`TieredStore over ${label}`, () => {
    let backend: { admin: RemoteAdmin; stop(): Promise<void> };
    const opened: TieredStore[] = [];

    /** A new "machine": its own .gg, its own connection to the shared remote. */
    async function machine(): Promise<TieredStore> {
      const store = await openStore(backend.admin.uri, tempLocalStore());
      assert.ok(store instanceof TieredStore);
      opened.push(store);
      return store;
    }

    before(async () => {
      backend = await start();
    });

    after(async () => {
      for (const s of opened) await s.close();
      await backend?.admin.close();
      await backend?.stop();
      cleanupTemps();
    });

    it("a second machine sees the first one's reductions and downloads its objects", async () => {
      const a = await machine();
      const small = randomObject(3000);
      const { name: smallName } = await a.put(small);
      const bigFile = randomFile(7 * MiB);
      const { name: bigName } = await a.putFile(bigFile);
      const thunk = 'T' + smallName.slice(1);
      await a.putReduction(thunk, smallName);
      await a.putReduction(`${thunk}#big`, bigName);

      const b = await machine();
      assert.equal(b.local.hasSync(smallName), false);
      assert.deepEqual(await b.getReductions([thunk, `${thunk}#big`, `${thunk}#none`]), [
        smallName,
        bigName,
        undefined,
      ]);
      assert.equal(b.local.getReductionSync(thunk), smallName, 'remote memo hits are cached locally');
      assert.deepEqual(await b.get(smallName), small);
      assert.equal(b.local.hasSync(smallName), true, 'downloads land in the local cache');
      const dest = path.join(tempDir(), 'big');
      await b.getToFile(bigName, dest);
      assert.ok(fs.readFileSync(dest).equals(fs.readFileSync(bigFile)));
      assert.equal(b.local.hasSync(bigName), true);
    });

    it('after the remote is emptied, uploadMissing sends everything again (no stale knowledge)', async () => {
      const a = await machine();
      const names: string[] = [];
      for (let i = 0; i < 40; i++) names.push((await a.local.put(randomObject(1000 + i))).name);
      names.push(a.local.putFileSync(randomFile(3 * MiB)).name);
      const total = names.reduce((s, n) => s + nameSize(n), 0);

      const first = await uploadMissing(names, a.local, a.remote, { concurrency: 8 });
      assert.equal(first.objectsUploaded, names.length);
      assert.equal(first.bytesUploaded, total);
      const again = await a.ensureRemote(names);
      assert.equal(again.objectsUploaded, 0, 'nothing is sent twice');

      await backend.admin.empty();
      const seen: UploadProgress[] = [];
      const third = await uploadMissing(names, a.local, a.remote, {
        concurrency: 8,
        batchSize: 16,
        onProgress: (p) => seen.push(p),
      });
      assert.equal(third.objectsUploaded, names.length);
      assert.equal(third.bytesUploaded, total);
      assert.deepEqual(
        await a.remote.hasMany(names),
        names.map(() => true),
      );
      const last = seen.at(-1) as UploadProgress;
      assert.deepEqual(
        [
          last.objectsChecked,
          last.objectsTotal,
          last.objectsMissing,
          last.objectsUploaded,
          last.bytesMissing,
          last.bytesUploaded,
        ],
        [names.length, names.length, names.length, names.length, total, total],
      );
      for (let i = 1; i < seen.length; i++)
        assert.ok((seen[i] as UploadProgress).bytesUploaded >= (seen[i - 1] as UploadProgress).bytesUploaded);

      // a machine that never had the objects cannot invent them: a clear error, not a silent skip
      await backend.admin.empty();
      const b = await machine();
      await assert.rejects(uploadMissing(names, b.local, b.remote), (e: unknown) =>
        isGgError(e, 'GG_E_OBJECT_MISSING'),
      );
    });

    it('a remote memo entry whose object is gone is a miss, or is repaired by a machine that has the object', async () => {
      const a = await machine();
      const data = randomObject(2000);
      const { name } = await a.put(data);
      const thunk = 'T' + computeName(randomObject(10)).slice(1);
      await a.putReduction(thunk, name);
      // the remote loses the object but keeps the memo entry
      const reduction = await a.remote.getReduction(thunk);
      assert.equal(reduction, name);
      await (a.remote as RemoteStore).delete(name);

      const b = await machine();
      assert.equal(await b.getReduction(thunk), undefined, 'dangling entry: recompute rather than fail');

      // c holds the object locally (but not the memo): it uses the entry and puts the object back
      const c = await machine();
      c.local.putSync(data);
      assert.equal(await c.getReduction(thunk), name);
      assert.equal(await c.remote.has(name), true, 'the object was re-uploaded');
      const d = await machine();
      assert.equal(await d.getReduction(thunk), name);
      assert.deepEqual(await d.get(name), data);
    });

    it('putReduction publishes the result object before the memo entry', async () => {
      const a = await machine();
      const { name } = a.local.putSync(randomObject(500)); // produced locally only (e.g. by the local engine)
      const thunk = 'T' + computeName(randomObject(11)).slice(1);
      await a.putReduction(`${thunk}#out`, name);
      assert.equal(await a.remote.has(name), true);
      const b = await machine();
      assert.equal(await b.getReduction(`${thunk}#out`), name);
    });

    it('a damaged remote copy is reported, dropped, and repaired from a machine that has it', async () => {
      const a = await machine();
      const data = randomObject(4096);
      const { name } = await a.put(data);
      await backend.admin.overwrite(name, Buffer.concat([data.subarray(0, 4095), Buffer.from('!')]));
      const b = await machine();
      await assert.rejects(b.get(name), (e: unknown) => isGgError(e, 'GG_E_OBJECT_CORRUPT'));
      assert.equal(b.local.hasSync(name), false, 'the bad bytes never reach the local cache');
      assert.equal(await a.remote.has(name), false, 'the bad copy was removed');
      const repaired = await a.ensureRemote([name]);
      assert.equal(repaired.objectsUploaded, 1);
      assert.deepEqual(await b.get(name), data);
    });
  });
}
