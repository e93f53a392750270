/**
 * Names of objects of 4 GiB or more (docs/IR.md): 16 hex digits of size instead of gg's 8, so sizes above 2^32
 * survive formatting and parsing; names of smaller objects stay exactly gg's.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { isGgError } from '../../src/errors.js';
import { assertName, computeName, isValidName, NameHasher, nameFromDigest, nameSize } from '../../src/ir/name.js';
import { decodeThunk, encodeThunk, rewriteThunk, validateThunk, type Thunk } from '../../src/ir/thunk.js';
import { parsePlaceholder, placeholderContent } from '../../src/ir/placeholder.js';

const digest = createHash('sha256').update('any content').digest();
const GiB = 2 ** 30;

describe('names of objects >= 4 GiB', () => {
  it('format the size in 8 hex digits below 2^32 and in 16 from 2^32 on, and parse back exactly', () => {
    const cases: [number, string][] = [
      [0, '00000000'],
      [2 ** 32 - 1, 'ffffffff'],
      [2 ** 32, '0000000100000000'],
      [2 ** 32 + 1, '0000000100000001'],
      [5 * GiB + 7, '0000000140000007'],
      [2 ** 40, '0000010000000000'],
      [Number.MAX_SAFE_INTEGER, '001fffffffffffff'],
    ];
    for (const [size, digits] of cases) {
      const name = nameFromDigest('V', digest, size);
      assert.equal(name.length, 44 + digits.length, `${size}`);
      assert.ok(name.endsWith(digits), `${size}: ${name}`);
      assert.ok(isValidName(name), name);
      assert.equal(nameSize(name), size);
      assert.equal(nameSize(nameFromDigest('T', digest, size)), size);
    }
  });

  it('accept only 8 or 16 lowercase hex digits of size', () => {
    const base = nameFromDigest('V', digest, 0).slice(0, 44);
    for (const n of [7, 9, 12, 15, 17, 24]) assert.equal(isValidName(base + '1'.repeat(n)), false, `${n} digits`);
    assert.equal(isValidName(base + '000000010000000A'), false, 'uppercase hex');
    assert.throws(
      () => assertName(base + '1'.repeat(12)),
      (e) => isGgError(e, 'GG_E_NAME_INVALID'),
    );
  });

  it('a streamed object of 4 GiB + 3 bytes is named with its full size (the counter does not wrap at 2^32)', () => {
    const chunk = Buffer.alloc(64 * 1024 * 1024, 0x5a);
    const hasher = new NameHasher();
    const total = 4 * GiB + 3;
    for (let done = 0; done < total;) {
      const piece = chunk.subarray(0, Math.min(chunk.length, total - done));
      hasher.update(piece);
      done += piece.length;
    }
    assert.equal(hasher.bytes, total);
    // SHA-256 of 4 GiB + 3 bytes of 0x5a, from an independent run of node:crypto (about 4 s of hashing).
    assert.equal(hasher.digestName(), 'VwcaOu8GpG_0ySVZ7wwSMwGxB4GVBTCiu3Zo0pDtRrFk0000000100000003');
  });

  it('travel through thunks (inputs, rewrites) and placeholders unchanged', () => {
    const big = nameFromDigest('V', digest, 6 * GiB);
    const bigThunk = nameFromDigest('T', digest, 2 ** 32 + 12);
    const sh = computeName(Buffer.from('a program'));
    const t: Thunk = {
      function: { hash: sh, args: ['sh', `@{GGHASH:${bigThunk}}`], envars: [] },
      values: [{ name: big, filename: 'data' }],
      thunks: [{ name: bigThunk, filename: 'part' }],
      executables: [{ name: sh }],
      outputs: ['out'],
      timeout: 0,
      links: {},
    };
    validateThunk(t);
    const decoded = decodeThunk(encodeThunk(t));
    assert.deepEqual(decoded.values, t.values);
    assert.deepEqual(decoded.thunks, t.thunks);
    const rewritten = rewriteThunk(decoded, new Map([[bigThunk, big]]));
    assert.deepEqual(rewritten.thunks, []);
    assert.deepEqual(rewritten.values, [
      { name: big, filename: 'data' },
      { name: big, filename: 'part' },
    ]);
    assert.equal(rewritten.function.args[1], `@{GGHASH:${big}}`);
    for (const kind of ['shell', 'linker-script'] as const) {
      assert.equal(parsePlaceholder(Buffer.from(placeholderContent(`${bigThunk}#out`, kind))), `${bigThunk}#out`);
    }
  });
});
