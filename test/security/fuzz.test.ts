/**
 * Property-based fuzzing (fast-check) of what reads hostile input: the thunk decoder, the name parser, the
 * placeholder reader, the memo value parser, and the CLI's argument parsing. Thousands of cases per run; the
 * only acceptable failure is a GgError with a GG_E_ code (or commander's own usage error, which the CLI turns
 * into GG_E_USAGE): never another exception, never a hang.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command, CommanderError } from 'commander';
import fc from 'fast-check';
import { registerBasic } from '../../src/cli/commands/basic.js';
import { registerCreateThunk } from '../../src/cli/commands/create-thunk.js';
import { registerForce } from '../../src/cli/commands/force.js';
import { registerVerify } from '../../src/cli/commands/verify.js';
import { parseByteSize, parseCount } from '../../src/cli/sandbox-flags.js';
import { parseIntOption } from '../../src/cli/errors.js';
import { GgError } from '../../src/errors.js';
import { assertName, computeName, isValidName, splitTag } from '../../src/ir/name.js';
import { parsePlaceholder, placeholderContent } from '../../src/ir/placeholder.js';
import { decodeThunk, encodeThunk, validateThunk, type Thunk } from '../../src/ir/thunk.js';
import { parseReduction } from '../../src/store/remote-store.js';
import { parseRedisUri } from '../../src/store/redis-store.js';
import { parseS3Uri } from '../../src/store/s3-store.js';

const RUNS = Number(process.env['GG_FUZZ_RUNS'] ?? 3000);

/** Run `f`; a throw must be a GgError with a GG_E_ code. */
function onlyGgErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof GgError) || !/^GG_E_[A-Z_]+$/.test(e.code))
      throw new Error(`not a GgError: ${String((e as Error)?.stack ?? e)}`);
  }
}

const name = computeName(Buffer.from('fuzz'));
const base: Thunk = {
  function: { hash: name, args: ['prog', 'x'], envars: ['A=1'] },
  values: [{ name, filename: 'in' }],
  thunks: [],
  executables: [{ name }],
  outputs: ['out', 'b'],
  timeout: 0,
  links: { l: 'target' },
  cwd: 'sub',
};
const valid = encodeThunk(base);

/** Strings that look like what a thunk holds, with the characters that break parsers. */
const tricky = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    '',
    '.',
    '..',
    '/',
    '//',
    'a/../b',
    'a/./b',
    '\0',
    'a\0b',
    '#',
    '=',
    '@{GGHASH:',
    '@{GGHASH:}',
    'x'.repeat(5000),
    name,
    `${name}#t`,
    `T${name.slice(1)}`,
  ),
  fc
    .array(fc.constantFrom('a', '/', '.', '..', '#', '=', '\0', '\n', ' ', 'é'), { maxLength: 12 })
    .map((a) => a.join('')),
);

describe('fuzz: hostile input gives GG_E_ errors, never a crash', () => {
  it('the thunk decoder: random bytes, mutated thunks, random valid-shaped thunks', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        onlyGgErrors(() => decodeThunk(Buffer.concat([Buffer.from('##GGTHUNK##'), Buffer.from(bytes)])));
        onlyGgErrors(() => decodeThunk(Buffer.from(bytes)));
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.nat(valid.length),
        (edits, cut) => {
          const b = Buffer.from(valid);
          for (const [at, v] of edits) b[at] = v;
          onlyGgErrors(() => decodeThunk(b));
          onlyGgErrors(() => decodeThunk(b.subarray(0, cut)));
        },
      ),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.record({
          args: fc.array(tricky, { minLength: 0, maxLength: 4 }),
          env: fc.array(tricky, { maxLength: 3 }),
          file: tricky,
          out: fc.array(tricky, { maxLength: 3 }),
          link: fc.dictionary(tricky, tricky, { maxKeys: 3 }),
          cwd: tricky,
          timeout: fc.oneof(fc.nat(), fc.constantFrom(2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1)),
        }),
        (r) => {
          const t: Thunk = {
            ...base,
            function: { ...base.function, args: r.args, envars: r.env },
            values: [{ name, filename: r.file }],
            outputs: r.out,
            links: r.link,
            cwd: r.cwd,
            timeout: r.timeout,
          };
          onlyGgErrors(() => validateThunk(t));
          let bytes: Buffer;
          try {
            bytes = encodeThunk(t);
          } catch {
            return; // unencodable (a timeout past uint32): nothing a store could hold
          }
          onlyGgErrors(() => {
            const d = decodeThunk(bytes);
            // What decodes is safe to run: no name passes through a link, nothing escapes the run directory.
            for (const k of Object.keys(d.links))
              for (const o of d.outputs)
                assert.ok(
                  !`${d.cwd ?? ''}/${o}`.replace(/^\//, '').startsWith(`${k.replace(/\/+$/, '')}/`) || k === '',
                );
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('the name parser and the memo value parser', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          tricky,
          fc.string({ maxLength: 80 }),
          fc.constantFrom(name.slice(0, -1), `${name}0`, `${name} ggsig1:${'A'.repeat(43)}`, `${name} ggsig1:`),
        ),
        (s) => {
          onlyGgErrors(() => assertName(s));
          const { name: n } = splitTag(s);
          assert.equal(typeof isValidName(n), 'boolean');
          const r = parseReduction(s);
          if (r !== undefined) assert.ok(isValidName(splitTag(r.split(' ')[0]!).name));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('the placeholder reader', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
          fc
            .tuple(tricky, fc.constantFrom<'shell' | 'linker-script'>('shell', 'linker-script'))
            .map(([ref, kind]) => Buffer.from(placeholderContent(ref, kind), 'latin1')),
        ),
        (b) => {
          onlyGgErrors(() => {
            const ref = parsePlaceholder(b);
            if (ref !== undefined) assert.ok(isValidName(splitTag(ref).name));
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('CLI option values and storage URIs', () => {
    const numberish = fc.oneof(
      fc.string({ maxLength: 25 }),
      fc.bigInt().map(String),
      fc.double().map(String),
      fc.constantFrom(
        '2147483647',
        '2147483648',
        '99999999999999',
        '-1',
        '0x10',
        '1e3',
        ' 5 ',
        '4G',
        '5T',
        '9999999999T',
      ),
    );
    fc.assert(
      fc.property(numberish, (v) => {
        onlyGgErrors(() => {
          const n = parseIntOption('--timeout', 2 ** 31 - 1)(v);
          assert.ok(Number.isSafeInteger(n) && n >= 0 && n <= 2 ** 31 - 1);
        });
        onlyGgErrors(() => assert.ok(Number.isSafeInteger(parseByteSize('--memory-limit')(v))));
        onlyGgErrors(() => assert.ok(Number.isSafeInteger(parseCount('--pids-limit')(v))));
      }),
      { numRuns: RUNS },
    );
    const uri = fc.oneof(
      fc.webUrl().map((u) => u.replace(/^https?/, 'redis')),
      fc.string({ maxLength: 40 }).map((s) => `redis://${s}`),
      fc.string({ maxLength: 40 }).map((s) => `s3://${s}`),
      fc.constantFrom(
        'redis://h/99999999999',
        's3://bucket/%zz',
        'redis://%@h',
        'redis://h:0',
        'redis://h:99999',
        's3://',
        's3://b?region=',
        'redis://[::1',
        'rediss://u:p@h/1',
      ),
    );
    fc.assert(
      fc.property(uri, (u) => {
        onlyGgErrors(() => parseRedisUri(u));
        onlyGgErrors(() => parseS3Uri(u, {}));
      }),
      { numRuns: RUNS },
    );
  });

  it('CLI argument parsing (commands registered, their actions replaced)', async () => {
    const flags = fc.constantFrom(
      '-j',
      '--jobs',
      '-T',
      '--timeout',
      '--memory-limit',
      '--output-limit',
      '--pids-limit',
      '--sandbox',
      '--storage',
      '--json',
      '-o',
      '-v',
      '-e',
      '-t',
      '-E',
      '--link',
      '--cwd',
      '-C',
      '--',
      '--nope',
      '-',
      '-x',
    );
    const args = fc.array(fc.oneof(flags, tricky, fc.integer().map(String)), { maxLength: 8 });
    const cmd = fc.constantFrom('force', 'create-thunk', 'hash', 'collect', 'describe', 'verify', 'init', 'bogus');
    await fc.assert(
      fc.asyncProperty(cmd, args, async (c, a) => {
        const program = new Command('gg').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
        registerBasic(program);
        registerCreateThunk(program);
        registerForce(program);
        registerVerify(program);
        for (const sub of program.commands)
          sub
            .exitOverride()
            .configureOutput({ writeErr: () => {}, writeOut: () => {} })
            .action(() => {});
        try {
          await program.parseAsync(['node', 'gg', c, ...a]);
        } catch (e) {
          if (e instanceof CommanderError) return;
          if (e instanceof GgError && /^GG_E_/.test(e.code)) return;
          throw e;
        }
      }),
      { numRuns: Math.max(200, RUNS / 3) },
    );
  });
});
