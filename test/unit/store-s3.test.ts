/** S3Store against a real S3-compatible server (s3rver in a child process) on an ephemeral port. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { isGgError } from '../../src/errors.js';
import { computeName } from '../../src/ir/name.js';
import { mapConcurrent } from '../../src/store/concurrency.js';
import { openStore } from '../../src/store/open-store.js';
import { HashingPassThrough } from '../../src/store/remote-store.js';
import { GCS_ENDPOINT, S3Store, parseS3Uri } from '../../src/store/s3-store.js';
import { freePort, startS3, useS3Credentials, type RunningS3 } from '../helpers/servers.js';
import {
  cleanupTemps,
  randomFile,
  randomObject,
  startSilentServer,
  tempDir,
  tempLocalStore,
} from '../helpers/store-fixtures.js';

const MiB = 1024 * 1024;

function rejectsWith(code: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(isGgError(e), `expected a GgError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.hint, 'every storage error carries a hint');
    return true;
  };
}

/**
 * A refused upload leaves no object on S3, GCS or MinIO (the PUT never completes, the multipart upload is
 * aborted). s3rver, though, keeps whatever part of an aborted PUT it received, sometimes after our clean-up ran:
 * so the guarantee tested is the one every server gets, that such a copy is never used.
 */
async function assertNeverUsable(s: S3Store, name: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 200));
  if (await s.has(name)) {
    await assert.rejects(s.get(name), rejectsWith('GG_E_OBJECT_CORRUPT'));
    assert.equal(await s.has(name), false);
  }
}

describe('S3Store', () => {
  let server: RunningS3;
  let store: S3Store;
  let raw: S3Client;

  before(async () => {
    useS3Credentials();
    server = await startS3();
    store = S3Store.fromUri(server.uri.replace('?', '/cache?'));
    await store.check();
    raw = new S3Client({
      region: 'us-east-1',
      endpoint: server.endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  });

  after(async () => {
    await store?.close();
    raw?.destroy();
    await server?.stop();
    cleanupTemps();
  });

  const rawPut = (key: string, body: Buffer): Promise<unknown> =>
    raw.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: body }));

  it('parses URIs (s3://, gs://) and rejects bad ones with GG_E_STORAGE_URI', async () => {
    assert.deepEqual(parseS3Uri('s3://my-bucket/some/prefix?region=eu-west-1', {}), {
      bucket: 'my-bucket',
      prefix: 'some/prefix/',
      region: 'eu-west-1',
    });
    assert.deepEqual(parseS3Uri('s3://bkt?endpoint=http://127.0.0.1:9000/', {}), {
      bucket: 'bkt',
      prefix: '',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9000',
    });
    assert.deepEqual(parseS3Uri('gs://bkt/x', {}), {
      bucket: 'bkt',
      prefix: 'x/',
      region: 'auto',
      endpoint: GCS_ENDPOINT,
    });
    for (const bad of [
      's3://',
      's3://bkt?regoin=x',
      's3://bkt?endpoint=ftp://x',
      's3://key:secret@bkt',
      's3://Bad_Bucket!',
      's3://b',
    ]) {
      assert.throws(() => parseS3Uri(bad, {}), rejectsWith('GG_E_STORAGE_URI'), bad);
    }
  });

  it('round-trips objects, existence and reductions under its prefix', async () => {
    const a = randomObject(4096);
    const put = await store.put(a);
    assert.equal(put.name, computeName(a));
    assert.deepEqual(await store.get(put.name), a);
    assert.equal(await store.has(put.name), true);
    const absent = computeName(randomObject(10));
    assert.deepEqual(await store.hasMany([put.name, absent]), [true, false]);
    await assert.rejects(store.get(absent), rejectsWith('GG_E_OBJECT_MISSING'));
    // keys are PREFIX + NAME and PREFIX + reductions/REF
    const obj = await raw.send(new GetObjectCommand({ Bucket: server.bucket, Key: `cache/${put.name}` }));
    assert.equal(obj.ContentLength, 4096);

    const thunk = 'T' + put.name.slice(1);
    assert.equal(await store.getReduction(thunk), undefined);
    await store.putReduction(thunk, put.name);
    await store.putReduction(`${thunk}#b`, absent);
    assert.deepEqual(await store.getReductions([thunk, `${thunk}#b`, `${thunk}#c`]), [put.name, absent, undefined]);
    const red = await raw.send(new GetObjectCommand({ Bucket: server.bucket, Key: `cache/reductions/${thunk}` }));
    assert.equal(await red.Body?.transformToString(), put.name);
  });

  it('answers large hasMany batches (paged listing + HEADs) exactly like has()', async () => {
    const names: string[] = [];
    const present = new Set<string>();
    const toPut: Buffer[] = [];
    for (let i = 0; i < 1500; i++) {
      const data = Buffer.from(`listed object ${i}`);
      names.push(computeName(data));
      if (i % 5 !== 0) toPut.push(data); // 1,200 objects: more than one listing page
    }
    for (const { name } of await mapConcurrent(toPut, 32, (d) => store.put(d))) present.add(name);
    const found = await store.hasMany(names);
    assert.deepEqual(
      found,
      names.map((n) => present.has(n)),
    );
  });

  for (const mode of ['single streamed PUT', 'multipart'] as const) {
    it(`streams large objects both ways (${mode}), verified`, async () => {
      const s =
        mode === 'multipart'
          ? S3Store.fromUri(server.uri.replace('?', '/mp?'), { multipartAboveBytes: 5 * MiB })
          : store;
      const file = randomFile(21 * MiB + 5); // multipart: three 8 MiB parts, the last one short
      const put = await s.putFile(file);
      assert.equal(put.written, true);
      assert.equal((await s.putFile(file, put.name)).written, false);
      const dest = path.join(tempDir(), 'out');
      await s.getToFile(put.name, dest);
      assert.ok(fs.readFileSync(dest).equals(fs.readFileSync(file)));

      const data = randomObject(17 * MiB);
      const name = computeName(data);
      assert.equal(
        (await s.putStream(name, Readable.from([data.subarray(0, 3 * MiB), data.subarray(3 * MiB)]))).written,
        true,
      );
      assert.ok((await s.get(name)).equals(data));
      const big = randomObject(70 * MiB); // in memory, above the single-PUT size: multipart from buffer slices
      assert.ok((await s.get((await s.put(big)).name)).equals(big));

      // streams that do not match their name (other bytes, fewer bytes, more bytes) never become usable objects
      const wrong = computeName(randomObject(17 * MiB));
      await assert.rejects(
        s.putStream(wrong, Readable.from([randomObject(17 * MiB)])),
        rejectsWith('GG_E_OBJECT_CORRUPT'),
      );
      await assertNeverUsable(s, wrong);
      const longer = name.slice(0, 44) + (17 * MiB + 1).toString(16).padStart(8, '0');
      await assert.rejects(s.putStream(longer, Readable.from([data])), rejectsWith('GG_E_OBJECT_CORRUPT'));
      await assertNeverUsable(s, longer);
      const shorter = name.slice(0, 44) + (17 * MiB - 1).toString(16).padStart(8, '0');
      await assert.rejects(s.putStream(shorter, Readable.from([data])), rejectsWith('GG_E_OBJECT_CORRUPT'));
      await assertNeverUsable(s, shorter);
      // a file that changed after it was named is refused
      await assert.rejects(
        s.putFile(file, computeName(randomObject(21 * MiB + 5))),
        rejectsWith('GG_E_OBJECT_CORRUPT'),
      );
      if (s !== store) await s.close();
    });
  }

  it('releases the last byte of a streamed PUT only once the content matched its name', async () => {
    const data = randomObject(100_000);
    const collect = async (expected: string): Promise<{ bytes: number; error: unknown }> => {
      const check = new HashingPassThrough(data.length, expected, 'test data', true);
      let bytes = 0;
      check.on('data', (c: Buffer) => (bytes += c.length));
      const error = await pipeline(Readable.from([data.subarray(0, 5000), data.subarray(5000)]), check).then(
        () => undefined,
        (e: unknown) => e,
      );
      return { bytes, error };
    };
    assert.deepEqual(await collect(computeName(data)), { bytes: data.length, error: undefined });
    const bad = await collect(computeName(randomObject(100_000)));
    assert.equal(bad.bytes, data.length - 1, 'a request waiting for its Content-Length never completes');
    assert.ok(isGgError(bad.error, 'GG_E_OBJECT_CORRUPT'));
  });

  it('reports a tampered object as GG_E_OBJECT_CORRUPT, removes it, never returns it', async () => {
    const data = randomObject(4096);
    const { name } = await store.put(data);
    const evil = Buffer.from(data);
    evil[7] = (evil[7] as number) ^ 1;
    await rawPut(`cache/${name}`, evil);
    await assert.rejects(store.get(name), rejectsWith('GG_E_OBJECT_CORRUPT'));
    assert.equal(await store.has(name), false);

    const file = randomFile(9 * MiB);
    const big = await store.putFile(file);
    const bytes = fs.readFileSync(file);
    bytes[5 * MiB] = (bytes[5 * MiB] as number) ^ 1;
    await rawPut(`cache/${big.name}`, bytes);
    const dest = path.join(tempDir(), 'out');
    await assert.rejects(store.getToFile(big.name, dest), rejectsWith('GG_E_OBJECT_CORRUPT'));
    assert.deepEqual(fs.readdirSync(path.dirname(dest)), [], 'neither the destination nor a temp file exists');
    assert.equal(await store.has(big.name), false);
  });

  it('reports a truncated object as GG_E_OBJECT_CORRUPT', async () => {
    const data = randomObject(4096);
    const { name } = await store.put(data);
    await rawPut(`cache/${name}`, data.subarray(0, 1000));
    await assert.rejects(store.get(name), rejectsWith('GG_E_OBJECT_CORRUPT'));
    assert.equal(await store.has(name), false);
    const { name: again } = await store.put(data);
    await rawPut(`cache/${again}`, data.subarray(0, 1000));
    await assert.rejects(store.getToFile(again, path.join(tempDir(), 'out')), rejectsWith('GG_E_OBJECT_CORRUPT'));
  });

  it('fails fast on a missing bucket, bad keys, no credentials, no server, a silent server', async () => {
    await assert.rejects(
      openStore(server.uri.replace(server.bucket, 'no-such-bucket'), tempLocalStore()),
      rejectsWith('GG_E_STORAGE_BUCKET'),
    );

    const saved = { ...process.env };
    try {
      process.env['AWS_ACCESS_KEY_ID'] = 'NOT-A-KEY';
      await assert.rejects(openStore(server.uri, tempLocalStore()), rejectsWith('GG_E_STORAGE_AUTH'));

      for (const k of [
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY',
        'AWS_SESSION_TOKEN',
        'AWS_PROFILE',
        'AWS_WEB_IDENTITY_TOKEN_FILE',
        'AWS_ROLE_ARN',
      ])
        delete process.env[k];
      process.env['AWS_SHARED_CREDENTIALS_FILE'] = path.join(tempDir(), 'none');
      process.env['AWS_CONFIG_FILE'] = path.join(tempDir(), 'none');
      process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
      const t0 = Date.now();
      await assert.rejects(openStore(server.uri, tempLocalStore()), rejectsWith('GG_E_STORAGE_CREDENTIALS'));
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      process.env = saved;
    }

    const port = await freePort();
    const t0 = Date.now();
    await assert.rejects(
      openStore(`s3://${server.bucket}?endpoint=http://127.0.0.1:${port}`, tempLocalStore()),
      rejectsWith('GG_E_STORAGE_UNREACHABLE'),
    );
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);

    const silent = await startSilentServer();
    try {
      const t1 = Date.now();
      await assert.rejects(
        openStore(`s3://${server.bucket}?endpoint=http://127.0.0.1:${silent.port}`, tempLocalStore()),
        rejectsWith('GG_E_STORAGE_UNREACHABLE'),
      );
      assert.ok(Date.now() - t1 < 7000, `took ${Date.now() - t1} ms`);
    } finally {
      await silent.stop();
    }
  });
});
