/**
 * A large deterministic pseudo-random object produced as a stream, never held whole (memory tests). Its chunks are
 * views into one fixed 9 MiB pattern (each starting at a different offset), so producing 300 MiB allocates
 * nothing and the memory measured is the store's, not the generator's garbage. Views are never written to, so a
 * consumer may keep them as long as it likes.
 */
import { Readable } from 'node:stream';
import { NameHasher } from '../../src/ir/name.js';

const CHUNK = 1024 * 1024;
const PATTERN_SPAN = 8 * 1024 * 1024;
let pattern: Buffer | undefined;

function getPattern(): Buffer {
  if (pattern) return pattern;
  pattern = Buffer.allocUnsafe(PATTERN_SPAN + CHUNK);
  let seed = 0x9e3779b9;
  for (let i = 0; i + 4 <= pattern.length; i += 4) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    pattern.writeInt32LE(seed | 0, i);
  }
  return pattern;
}

export function generateObject(sizeBytes: number): Readable {
  const p = getPattern();
  let produced = 0;
  let index = 0;
  return new Readable({
    read() {
      if (produced >= sizeBytes) {
        this.push(null);
        return;
      }
      const n = Math.min(CHUNK, sizeBytes - produced);
      const offset = ((index++ * 7919) % (PATTERN_SPAN / 4096)) * 4096; // a different start for every chunk
      produced += n;
      this.push(p.subarray(offset, offset + n));
    },
  });
}

export async function generatedObjectName(sizeBytes: number): Promise<string> {
  const hasher = new NameHasher();
  for await (const chunk of generateObject(sizeBytes)) hasher.update(chunk as Buffer);
  return hasher.digestName();
}
