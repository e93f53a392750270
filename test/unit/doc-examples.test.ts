/**
 * The command blocks of README.md and docs/*.md run as a user would run them: in order, in a scratch directory
 * holding a copy of examples/, with the built `gg` on PATH, under the default jail. A block passes when every
 * command succeeds (bash -e, pipefail) and its stdout holds the output it shows (`#>` lines). Blocks that
 * cannot run here say why in a `<!-- doc-test: skip (REASON) -->` marker and are reported as named skips.
 * Conventions: test/helpers/doc-blocks.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO, tempDir } from '../helpers/cli.js';
import { COMMAND_LANGUAGES, docBlocks, missingOutput } from '../helpers/doc-blocks.js';

const DOCS = [
  'README.md',
  ...fs
    .readdirSync(path.join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** A directory with `gg` and `gg-force-and-run` running the built CLI, as `npm link` would provide them. */
function binDir(): string {
  const bin = tempDir('gg-doc-bin-');
  for (const [name, file] of [
    ['gg', 'gg.js'],
    ['gg-force-and-run', 'gg-force-and-run.js'],
  ] as const) {
    const p = path.join(bin, name);
    fs.writeFileSync(p, `#!/bin/sh\nexec '${process.execPath}' '${path.join(REPO, 'dist/bin', file)}' "$@"\n`);
    fs.chmodSync(p, 0o755);
  }
  return bin;
}

// The documents run side by side (each in its own scratch directory); a document's blocks run in order.
describe('documentation examples', { concurrency: true }, () => {
  it('every fenced block names its language (sh to run it as commands, text for anything else)', () => {
    const untagged = DOCS.flatMap((d) => docBlocks(path.join(REPO, d), d))
      .filter((b) => b.language === '')
      .map((b) => `${b.file}:${b.line}`);
    assert.deepEqual(untagged, []);
  });

  const bin = binDir();
  for (const doc of DOCS) {
    const blocks = docBlocks(path.join(REPO, doc), doc).filter((b) => COMMAND_LANGUAGES.has(b.language));
    if (blocks.length === 0) continue;
    describe(doc, () => {
      let scratch: string | undefined;
      let cwd = '';
      for (const b of blocks) {
        const title = `${b.file}:${b.line}: ${b.text.split('\n')[0]!.slice(0, 70)}`;
        it(title, { ...(b.skip !== undefined ? { skip: b.skip } : {}), timeout: 180_000 }, () => {
          if (scratch === undefined) {
            scratch = tempDir('gg-doc-');
            fs.cpSync(path.join(REPO, 'examples'), path.join(scratch, 'examples'), { recursive: true });
            cwd = scratch;
          }
          const start = b.in !== undefined ? path.join(scratch, b.in) : cwd;
          const cwdFile = path.join(scratch, '.doc-test-cwd');
          const script = `set -euo pipefail\ntrap 'pwd > "${cwdFile}"' EXIT\n${b.text}`;
          const r = spawnSync('bash', ['-c', script], {
            cwd: start,
            env: {
              ...process.env,
              PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
              GG_DIR: '',
              NO_COLOR: '1',
            },
            encoding: 'utf8',
            timeout: 170_000,
          });
          if (fs.existsSync(cwdFile)) cwd = fs.readFileSync(cwdFile, 'utf8').trim();
          const shown = `--- stdout\n${r.stdout}\n--- stderr\n${r.stderr.slice(-4000)}`;
          assert.equal(r.status, 0, `the block failed (exit ${r.status ?? r.signal})\n${shown}`);
          assert.deepEqual(missingOutput(b.shows, r.stdout), [], `output the document shows is missing\n${shown}`);
        });
      }
    });
  }
});
