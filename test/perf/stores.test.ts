/**
 * Speed and memory bounds of the remote stores. They measure the machine as much as the code, so they run alone
 * (`npm run test:perf`, after the other suites in CI), never next to other tests that load the CPU.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { computeName } from '../../src/ir/name.js';
import { mapConcurrent } from '../../src/store/concurrency.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { S3Store } from '../../src/store/s3-store.js';
import { startRedis, startS3, useS3Credentials, type RunningS3, type RunningServer } from '../helpers/servers.js';
import { cleanupTemps, runBigRoundTrip } from '../helpers/store-fixtures.js';

const MiB = 1024 * 1024;

describe('RedisStore bounds', () => {
  let server: RunningServer;
  let store: RedisStore;
  let raw: Redis;

  before(async () => {
    server = await startRedis();
    store = RedisStore.fromUri(server.uri);
    await store.check();
    raw = new Redis({ host: server.host, port: server.port, protocol: 2 });
  });

  after(async () => {
    await store?.close();
    raw?.disconnect();
    await server?.stop();
    cleanupTemps();
  });

  it('checks existence in batches at >= 10,000 names/s', async () => {
    const names: string[] = [];
    for (let i = 0; i < 20_000; i++) names.push(computeName(Buffer.from(`object ${i}`)));
    await store.put(Buffer.from('object 7'));
    const t0 = performance.now();
    const found = await store.hasMany(names);
    const perSecond = names.length / ((performance.now() - t0) / 1000);
    assert.equal(found.filter(Boolean).length, 1);
    assert.equal(found[7], true);
    assert.ok(perSecond >= 10_000, `${Math.round(perSecond)} names/s`);
  });

  it('streams a 300 MiB object up and down with RSS under 150 MiB', async (t) => {
    const r = await runBigRoundTrip(server.uri, 300);
    t.diagnostic(`peak RSS ${r.maxRssMiB.toFixed(1)} MiB, ${r.seconds.toFixed(1)} s`);
    assert.equal(r.downloaded, 300 * MiB);
    assert.equal(r.written, true);
    assert.equal(r.stillThere, true);
    assert.ok(r.maxRssMiB < 150, `peak RSS ${r.maxRssMiB.toFixed(1)} MiB`);
    await raw.del(r.name);
  });
});

describe('S3Store bounds', () => {
  let server: RunningS3;
  let raw: S3Client;

  before(async () => {
    useS3Credentials();
    server = await startS3();
    raw = new S3Client({ region: 'us-east-1', endpoint: server.endpoint, forcePathStyle: true });
  });

  after(async () => {
    raw?.destroy();
    await server?.stop();
    cleanupTemps();
  });

  it('answers hasMany over 1,500 names (paged listing + HEADs) in under 10 s', async () => {
    const store = S3Store.fromUri(server.uri.replace('?', '/listing?'));
    const names: string[] = [];
    const toPut: Buffer[] = [];
    for (let i = 0; i < 1500; i++) {
      const data = Buffer.from(`listed object ${i}`);
      names.push(computeName(data));
      if (i % 5 !== 0) toPut.push(data); // 1,200 objects: more than one listing page
    }
    await mapConcurrent(toPut, 32, (d) => store.put(d));
    const t0 = performance.now();
    const found = await store.hasMany(names);
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(found.filter(Boolean).length, 1200);
    assert.ok(seconds < 10, `${seconds.toFixed(2)} s`);
    await store.close();
  });

  it('streams a 300 MiB object up and down with RSS under 150 MiB', async (t) => {
    const r = await runBigRoundTrip(server.uri, 300);
    t.diagnostic(`peak RSS ${r.maxRssMiB.toFixed(1)} MiB, ${r.seconds.toFixed(1)} s`);
    assert.equal(r.downloaded, 300 * MiB);
    assert.equal(r.written, true);
    assert.equal(r.stillThere, true);
    assert.ok(r.maxRssMiB < 150, `peak RSS ${r.maxRssMiB.toFixed(1)} MiB`);
    await raw.send(new DeleteObjectCommand({ Bucket: server.bucket, Key: r.name }));
  });
});
