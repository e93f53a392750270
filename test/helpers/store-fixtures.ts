/** Small fixtures shared by the storage tests: temp .gg dirs, random objects, the large-object child process. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalStore } from '../../src/store/local-store.js';
import { generatedObjectName } from './generated-object.js';

const temps: string[] = [];

export function tempDir(prefix = 'gg-store-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(d);
  return d;
}

/** A fresh `.gg` in its own temp dir: a separate "machine". */
export function tempLocalStore(): LocalStore {
  return new LocalStore(path.join(tempDir(), '.gg'));
}

export function cleanupTemps(): void {
  for (const d of temps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export function randomObject(size = 4096): Buffer {
  return randomBytes(size);
}

/** A random file of `size` bytes, written in pieces. */
export function randomFile(size: number): string {
  const file = path.join(tempDir(), 'data');
  const fd = fs.openSync(file, 'w');
  for (let done = 0; done < size;) {
    const n = Math.min(1 << 20, size - done);
    fs.writeSync(fd, randomBytes(n));
    done += n;
  }
  fs.closeSync(fd);
  return file;
}

export interface BigRoundTrip {
  name: string;
  written: boolean;
  downloaded: number;
  stillThere: boolean;
  maxRssMiB: number;
  seconds: number;
}

/** Run the large-object round trip in a child node process and return what it measured. */
export async function runBigRoundTrip(
  uri: string,
  sizeMiB: number,
  env: Record<string, string> = {},
): Promise<BigRoundTrip> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'big-object-roundtrip.js');
  const name = await generatedObjectName(sizeMiB * 1024 * 1024);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, uri, String(sizeMiB), name],
      { env: { ...process.env, ...env }, timeout: 120_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split('\n').at(-1) as string) as BigRoundTrip);
      },
    );
  });
}

/** A TCP server that accepts connections and never says a word (a hung server, a wrong service). */
export async function startSilentServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('data', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}
