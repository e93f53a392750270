/** A large deterministic pseudo-random object produced as a stream, never held whole (memory tests). */
import { Readable } from 'node:stream';
import { NameHasher } from '../../src/ir/name.js';

const CHUNK = 1024 * 1024;

/** One fresh 1 MiB buffer at a time (consumers may hold on to chunks, so buffers are never reused). */
export function generateObject(sizeBytes: number): Readable {
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

export async function generatedObjectName(sizeBytes: number): Promise<string> {
  const hasher = new NameHasher();
  for await (const chunk of generateObject(sizeBytes)) hasher.update(chunk as Buffer);
  return hasher.digestName();
}
