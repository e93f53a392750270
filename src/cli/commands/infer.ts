/** gg infer: argv -> runInfer(); the build's own exit status becomes ours. */
import type { Command } from 'commander';
import path from 'node:path';
import { runInfer } from '../../frontend/infer/infer.js';
import { parseSandboxKind } from '../../sandbox/create-sandbox.js';
import { findGgDir } from '../../store/gg-dir.js';
import { fallbackSummary } from '../../frontend/infer/infer.js';
import { action } from '../errors.js';
import { STORAGE_HELP, storageUriFromFlags } from '../sandbox-flags.js';

interface Opts {
  verbose?: boolean;
  root?: string;
  sandbox?: string;
  summary: boolean;
  storage?: string;
}

export function registerInfer(program: Command): void {
  program.enablePositionalOptions(); // so `gg infer make -j2` hands -j2 to make
  program
    .command('infer')
    .description(
      'run a build with model compilers on PATH: compiles, links and archives become thunks and placeholders',
    )
    .argument('<command...>', 'the build command (make, ninja, cmake, ...)')
    .option('-v, --verbose', 'log every modelled step and every command run for real (also GG_INFER_VERBOSE=1)')
    .option(
      '--root <dir>',
      'project root: files under it are declared by relative names (default: the directory holding .gg)',
    )
    .option(
      '--sandbox <kind>',
      'sandbox for placeholders forced during the build (bwrap or none; default $GG_SANDBOX or bwrap)',
    )
    .option('--storage <uri>', STORAGE_HELP)
    .option('--no-summary', 'no summary line at the end')
    .passThroughOptions()
    .addHelpText(
      'after',
      '\nExamples:\n  gg infer make -j2\n  gg infer cmake -G Ninja .. && gg infer ninja\n  gg force --jobs 2 hello',
    )
    .action(
      action(async (command: string[], o: Opts) => {
        const ggDir = findGgDir();
        const storageUri = storageUriFromFlags(o);
        const r = await runInfer({
          command,
          ggDir,
          ...(o.root ? { root: path.resolve(o.root) } : {}),
          sandbox: parseSandboxKind(o.sandbox ?? process.env['GG_SANDBOX'] ?? 'bwrap'),
          verbose: o.verbose === true,
          ...(storageUri ? { storageUri } : {}),
        });
        if (o.summary) {
          const s = r.stats;
          process.stderr.write(
            `gg infer: ${s.thunks} thunks from ${s.modelled} modelled commands; headers: ${s.depsCached} cached, ${s.depsDiscovered} discovered; ${s.cutoff} compiles cut off early; ${s.placed} memoized links placed; ${s.runs} program runs answered by thunks; ${(r.wallMs / 1000).toFixed(1)} s\n`,
          );
          process.stderr.write(fallbackSummary(s.fallbacks));
        }
        return r.exitCode;
      }),
    );
}
