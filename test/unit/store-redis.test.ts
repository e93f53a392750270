/** RedisStore against a real redis-server (one open, one with requirepass) on ephemeral ports. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { isGgError } from '../../src/errors.js';
import { computeName } from '../../src/ir/name.js';
import { openRemoteStore, openStore } from '../../src/store/open-store.js';
import { RedisStore, parseRedisUri } from '../../src/store/redis-store.js';
import { startRedis, freePort, type RunningServer } from '../helpers/servers.js';
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
    return true;
  };
}

describe('RedisStore', () => {
  let server: RunningServer;
  let secured: RunningServer;
  let store: RedisStore;
  let raw: Redis;

  before(async () => {
    [server, secured] = await Promise.all([startRedis(), startRedis({ password: 's3cret pass' })]);
    store = RedisStore.fromUri(server.uri);
    await store.check();
    raw = new Redis({ host: server.host, port: server.port, protocol: 2 });
  });

  after(async () => {
    await store?.close();
    raw?.disconnect();
    await Promise.all([server?.stop(), secured?.stop()]);
    cleanupTemps();
  });

  it('parses URIs, and rejects bad ones with GG_E_STORAGE_URI', async () => {
    assert.deepEqual(parseRedisUri('redis://u:p%40ss@h.example:6380/3'), {
      host: 'h.example',
      port: 6380,
      db: 3,
      tls: false,
      username: 'u',
      password: 'p@ss',
    });
    assert.deepEqual(parseRedisUri('rediss://:pw@10.0.0.1'), {
      host: '10.0.0.1',
      port: 6379,
      db: 0,
      tls: true,
      password: 'pw',
    });
    for (const bad of ['redis://host:6379/notadb', 'redis:///0', 'http://host', 'redis://h:1/0?x=1']) {
      await assert.rejects(openRemoteStore(bad), rejectsWith('GG_E_STORAGE_URI'), bad);
    }
  });

  it('round-trips objects, existence and reductions', async () => {
    const a = randomObject(4096);
    const b = randomObject(10);
    const put = await store.put(a);
    assert.equal(put.name, computeName(a));
    assert.equal(put.written, true);
    assert.equal((await store.put(a)).written, false);
    assert.deepEqual(await store.get(put.name), a);
    assert.equal(await store.has(put.name), true);
    const bName = computeName(b);
    assert.equal(await store.has(bName), false);
    assert.deepEqual(await store.hasMany([put.name, bName, put.name]), [true, false, true]);
    await assert.rejects(store.get(bName), rejectsWith('GG_E_OBJECT_MISSING'));

    const empty = await store.put(Buffer.alloc(0));
    assert.deepEqual(await store.get(empty.name), Buffer.alloc(0));

    const thunk = 'T' + put.name.slice(1);
    assert.equal(await store.getReduction(thunk), undefined);
    await store.putReduction(thunk, put.name);
    await store.putReduction(`${thunk}#out2`, bName);
    assert.equal(await store.getReduction(thunk), put.name);
    assert.deepEqual(await store.getReductions([thunk, `${thunk}#out2`, `${thunk}#nope`]), [
      put.name,
      bName,
      undefined,
    ]);
    // the memo is plain text under its documented key
    assert.equal(await raw.get(`reduction:${thunk}`), put.name);
  });

  it("writes a thunk's entries at once, and claims them with its small outputs stored first: the first claim wins", async () => {
    const t = `T${computeName(randomObject(11)).slice(1)}`;
    const out = randomObject(300);
    const outName = computeName(out);
    await store.putReductions([
      [`${t}#a`, outName],
      [t, outName],
    ]);
    assert.deepEqual(await store.getReductions([`${t}#a`, t]), [outName, outName]);
    await assert.rejects(store.putReductions([[t, 'not a name']]), rejectsWith('GG_E_NAME_INVALID'));

    // A claim carrying the output: object and entries recorded in one step.
    const u = `T${computeName(randomObject(12)).slice(1)}`;
    assert.deepEqual(await store.claimReductions([[`${u}#out`, outName]], [out]), {
      recorded: [outName],
      bytesWritten: 300,
      notified: false,
    });
    assert.deepEqual(await store.get(outName), out);
    // Stored already: not counted as uploaded again.
    assert.equal((await store.claimReductions([[`${u}#out`, outName]], [out])).bytesWritten, 0);
    // A second run with another result gets the first one back; its own output is stored (content-addressed),
    // and its notice does not go out: the result is not its own.
    const other = randomObject(301);
    const channel = `gg:results:test-${u.slice(1, 9)}`;
    const sub = new Redis({ host: server.host, port: server.port, protocol: 2 });
    try {
      const heard: string[] = [];
      sub.on('message', (_ch: string, m: string) => heard.push(m));
      await sub.subscribe(channel);
      const notice = { channel, writtenBase: 0, message: '[{"n":"@written@"}]' };
      assert.deepEqual(await store.claimReductions([[`${u}#out`, computeName(other)]], [other], notice), {
        recorded: [outName],
        bytesWritten: 301,
        notified: false,
      });
      assert.equal(await store.has(computeName(other)), true);
      assert.equal(await store.getReduction(`${u}#out`), outName);

      // A claim that records every entry publishes its notice in the same step, with the bytes it wrote filled
      // in (only the quoted token: the same text inside a JSON string stays as it is).
      const v = `T${computeName(randomObject(13)).slice(1)}`;
      const third = randomObject(302);
      const claim = await store.claimReductions([[`${v}#out`, computeName(third)]], [third], {
        channel,
        writtenBase: 1000,
        message: '[{"t":"started"},{"log":"\\"@written@\\"","n":"@written@"}]',
      });
      assert.deepEqual(claim, { recorded: [computeName(third)], bytesWritten: 302, notified: true });
      await sub.ping(); // the subscriber has read everything published before this answer
      assert.deepEqual(heard, ['[{"t":"started"},{"log":"\\"@written@\\"","n":1302}]']);
    } finally {
      sub.disconnect();
    }
  });

  it('reads a hostile memo result as a miss and refuses to write one, as the local store does', async () => {
    const v = computeName(randomObject(8));
    const t = `T${v.slice(1)}`;
    const ref = `T${computeName(randomObject(9)).slice(1)}`;
    // A value has no outputs; a tag is a file name, so nothing that leaves the directory; an empty tag is no tag.
    for (const bad of ['not a name', v.slice(0, 40), `${v}#out`, `${t}#../x`, `${t}#`, `${t}#a/b`]) {
      await raw.set(`reduction:${ref}`, bad);
      assert.equal(await store.getReduction(ref), undefined, `read ${JSON.stringify(bad)}`);
      assert.deepEqual(await store.getReductions([ref]), [undefined], `batch-read ${JSON.stringify(bad)}`);
      await assert.rejects(store.putReduction(ref, bad), rejectsWith('GG_E_NAME_INVALID'), `write ${bad}`);
    }
    await raw.set(`reduction:${ref}`, `${t}#out`);
    assert.equal(await store.getReduction(ref), `${t}#out`, "a thunk's output reference is a result");
  });

  it('streams files and streams both ways, verified', async () => {
    const file = randomFile(9 * MiB + 123); // above the single-shot size: streamed on a connection of its own
    const put = await store.putFile(file);
    assert.equal(put.written, true);
    assert.equal(await raw.strlen(put.name), 9 * MiB + 123);
    assert.equal((await store.putFile(file, put.name)).written, false);
    const dest = path.join(tempDir(), 'out');
    await store.getToFile(put.name, dest);
    assert.ok(fs.readFileSync(dest).equals(fs.readFileSync(file)));

    const data = randomObject(5 * MiB);
    const name = computeName(data);
    const viaStream = await store.putStream(name, Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
    assert.equal(viaStream.written, true);
    assert.ok((await store.get(name)).equals(data));

    // a stream that does not match its name is refused and leaves nothing behind
    const keysBefore = await raw.dbsize();
    const other = randomObject(5 * MiB);
    const wrong = computeName(randomObject(5 * MiB));
    await assert.rejects(store.putStream(wrong, Readable.from([other])), rejectsWith('GG_E_OBJECT_CORRUPT'));
    // a stream shorter than its name says is refused too
    await assert.rejects(
      store.putStream(name.slice(0, 44) + (5 * MiB + 1).toString(16).padStart(8, '0'), Readable.from([data])),
      rejectsWith('GG_E_OBJECT_CORRUPT'),
    );
    assert.equal(await store.has(wrong), false);
    assert.equal(await raw.dbsize(), keysBefore, 'nothing stored, not even a temp key');
  });

  it('reports a tampered object as GG_E_OBJECT_CORRUPT, removes it, never returns it', async () => {
    const data = randomObject(4096);
    const { name } = await store.put(data);
    const evil = Buffer.from(data);
    evil[100] = (evil[100] as number) ^ 0xff;
    await raw.set(name, evil);
    await assert.rejects(store.get(name), rejectsWith('GG_E_OBJECT_CORRUPT'));
    assert.equal(await store.has(name), false, 'the bad copy is gone');

    // large object: flip one byte in the middle, download to a file
    const file = randomFile(6 * MiB);
    const big = await store.putFile(file);
    await raw.setrange(big.name, 3 * MiB, 'X');
    const dest = path.join(tempDir(), 'out');
    await assert.rejects(store.getToFile(big.name, dest), rejectsWith('GG_E_OBJECT_CORRUPT'));
    assert.equal(fs.existsSync(dest), false, 'nothing was written at the destination');
    assert.deepEqual(fs.readdirSync(path.dirname(dest)), [], 'no temp file left');
    assert.equal(await store.has(big.name), false);
  });

  it('reports a truncated object as GG_E_OBJECT_CORRUPT', async () => {
    const data = randomObject(4096);
    const { name } = await store.put(data);
    await raw.set(name, data.subarray(0, 4000));
    await assert.rejects(store.get(name), rejectsWith('GG_E_OBJECT_CORRUPT'));

    const file = randomFile(6 * MiB);
    const big = await store.putFile(file);
    await raw.set(big.name, fs.readFileSync(file).subarray(0, 5 * MiB));
    await assert.rejects(store.getToFile(big.name, path.join(tempDir(), 'out')), rejectsWith('GG_E_OBJECT_CORRUPT'));
    assert.equal(await store.has(big.name), false);
  });

  it('fails fast with GG_E_STORAGE_AUTH on a wrong or missing password', async () => {
    const wrong = secured.uri.replace(/:[^:@/]*@/, ':wrong@');
    await assert.rejects(openStore(wrong, tempLocalStore()), rejectsWith('GG_E_STORAGE_AUTH'));
    const none = secured.uri.replace(/\/\/[^@]*@/, '//');
    await assert.rejects(openStore(none, tempLocalStore()), rejectsWith('GG_E_STORAGE_AUTH'));
    const good = await openStore(secured.uri, tempLocalStore());
    await good.put(randomObject(10));
    await good.close();

    // an ACL user (user:pass@ form) that may read but not write is refused before any work too
    const admin = new Redis({ host: secured.host, port: secured.port, password: 's3cret pass', protocol: 2 });
    await admin.call('ACL', 'SETUSER', 'reader', 'on', '>rpw', '~*', '+@read', '+@connection');
    admin.disconnect();
    const reader = `redis://reader:rpw@127.0.0.1:${secured.port}`;
    await assert.rejects(openStore(reader, tempLocalStore()), rejectsWith('GG_E_STORAGE_AUTH'));
  });

  it('fails fast with GG_E_STORAGE_UNREACHABLE when nothing listens', async () => {
    const port = await freePort();
    const t0 = Date.now();
    await assert.rejects(openStore(`redis://127.0.0.1:${port}`, tempLocalStore()), (e: unknown) => {
      rejectsWith('GG_E_STORAGE_UNREACHABLE')(e);
      assert.ok(isGgError(e) && e.hint !== undefined && e.hint.length > 0);
      return true;
    });
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);

    // something that accepts the connection and never answers: a short wait, then the same error
    const silent = await startSilentServer();
    try {
      const t1 = Date.now();
      await assert.rejects(
        openStore(`redis://127.0.0.1:${silent.port}`, tempLocalStore()),
        rejectsWith('GG_E_STORAGE_UNREACHABLE'),
      );
      assert.ok(Date.now() - t1 < 5000, `took ${Date.now() - t1} ms`);
    } finally {
      await silent.stop();
    }
  });
});
