/** add A B: the sum of two files holding integers, written to `out` (the leaf of the fibonacci example). */
import fs from 'node:fs';

const [a, b] = process.argv.slice(2).map((f) => BigInt(fs.readFileSync(f, 'utf8').trim() || '0'));
fs.writeFileSync('out', String(a! + b!));
