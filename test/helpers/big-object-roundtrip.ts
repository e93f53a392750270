/**
 * Child process for the large-object memory tests: streams a generated object (never held whole) up to a remote
 * store, down again into a file, and up once more from that file, then prints {"maxRssMiB":...} on stdout.
 * Run as: node dist/test/helpers/big-object-roundtrip.js STORAGE_URI SIZE_MIB NAME (the parent names the generated
 * object, so that naming it does not count here). Its own process, so the test runner's memory does not blur the
 * measurement.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateObject as generate } from './generated-object.js';
import { openRemoteStore } from '../../src/store/open-store.js';

async function main(): Promise<void> {
  const [uri, sizeText, name] = process.argv.slice(2);
  if (!uri || !sizeText || !name) throw new Error('usage: big-object-roundtrip URI SIZE_MIB NAME');
  const size = Number(sizeText) * 1024 * 1024;
  const started = performance.now();

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
      JSON.stringify({
        name,
        written: up.written && again.written,
        downloaded,
        stillThere,
        maxRssMiB,
        seconds: (performance.now() - started) / 1000,
      }) + '\n',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
