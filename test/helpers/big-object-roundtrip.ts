/**
 * Child process for the large-object memory tests: streams a generated object (never held whole) up to a remote
 * store, down again into a file, and up once more from that file, then prints {"maxRssMiB":...} on stdout.
 * Run as: node dist/test/helpers/big-object-roundtrip.js STORAGE_URI SIZE_MIB
 * Its own process, so the test runner's memory does not blur the measurement.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { NameHasher } from '../../src/ir/name.js';
import { openRemoteStore } from '../../src/store/open-store.js';

const CHUNK = 1024 * 1024;

/** Deterministic pseudo-random content, one fresh 1 MiB buffer at a time (consumers may hold on to chunks). */
function generate(sizeBytes: number): Readable {
  let seed = 0x9e3779b9;
  let produced = 0;
  return new Readable({
    read() {
      if (produced >= sizeBytes) {
        this.push(null);
        return;
      }
      const n = Math.min(CHUNK, sizeBytes - produced);
      const buf = Buffer.allocUnsafe(n);
      for (let i = 0; i + 4 <= n; i += 4) {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        buf.writeInt32LE(seed | 0, i);
      }
      produced += n;
      this.push(buf);
    },
  });
}

async function main(): Promise<void> {
  const [uri, sizeText] = process.argv.slice(2);
  if (!uri || !sizeText) throw new Error('usage: big-object-roundtrip URI SIZE_MIB');
  const size = Number(sizeText) * 1024 * 1024;
  const started = performance.now();

  const hasher = new NameHasher();
  for await (const chunk of generate(size)) hasher.update(chunk as Buffer);
  const name = hasher.digestName();

  const store = await openRemoteStore(uri);
  await store.check();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-big-'));
  const dest = path.join(dir, 'down');
  try {
    const up = await store.putStream!(name, generate(size));
    await store.getToFile(name, dest);
    const downloaded = fs.statSync(dest).size;
    await store.delete(name);
    const again = await store.putFile(dest, name);
    const stillThere = await store.has(name);
    await store.close();
    const maxRssMiB = process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
    process.stdout.write(
      JSON.stringify({ name, written: up.written && again.written, downloaded, stillThere, maxRssMiB, seconds: (performance.now() - started) / 1000 }) + '\n',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
