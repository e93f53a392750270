/** gg infer: argv -> runInfer(); the build's own exit status becomes ours. */
import type { Command } from 'commander';
import path from 'node:path';
import { forceTargets, showThunkLogs } from '../../force/force-command.js';
import { fallbackSummary, runInfer } from '../../frontend/infer/infer.js';
import type { ForcePlaceholders } from '../../frontend/infer/infer-server.js';
import { defaultJobs, openRuntime, type Runtime, type RuntimeOptions } from '../../runtime.js';
import { parseSandboxKind } from '../../sandbox/create-sandbox.js';
import { findGgDir } from '../../store/gg-dir.js';
import { GgError } from '../../errors.js';
import { action } from '../errors.js';
import { STORAGE_HELP, storageUriFromFlags } from '../sandbox-flags.js';

interface Opts {
  verbose?: boolean;
  root?: string;
  sandbox?: string;
  summary: boolean;
  storage?: string;
  force?: boolean;
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
    .option(
      '--force',
      'also build: force compiles while the build runs, and at its end every program and library it left (as gg force would), in this process',
    )
    .option('--no-summary', 'no summary line at the end')
    .passThroughOptions()
    .addHelpText(
      'after',
      '\nExamples:\n  gg infer make -j2\n  gg infer --force make -j2\n  gg infer cmake -G Ninja .. && gg infer ninja\n  gg force --jobs 2 hello',
    )
    .action(
      action(async (command: string[], o: Opts) => {
        const ggDir = findGgDir();
        const storageUri = storageUriFromFlags(o);
        const sandbox = parseSandboxKind(o.sandbox ?? process.env['GG_SANDBOX'] ?? 'bwrap');
        const jobs = inferForceJobs();
        const forcer = placeholderForcer({ ggDir, sandbox, ...(storageUri ? { storageUri } : {}) }, jobs);
        let r;
        try {
          r = await runInfer({
            command,
            ggDir,
            ...(o.root ? { root: path.resolve(o.root) } : {}),
            sandbox,
            verbose: o.verbose === true,
            ...(storageUri ? { storageUri } : {}),
            forcePlaceholders: forcer.force,
            forceContext: forcer.context,
            forceOutputs: o.force === true,
            forceJobs: jobs,
          });
        } finally {
          await forcer.close();
        }
        if (o.summary) {
          const s = r.stats;
          process.stderr.write(
            `gg infer: ${s.thunks} thunks from ${s.modelled} modelled commands; headers: ${s.depsCached} cached, ${s.depsDiscovered} discovered (${s.compiledAtInfer} by the compile itself); ${s.cutoff} compiles cut off early; ${s.placed} memoized links placed; ${s.runs} program runs answered by thunks; ${s.wrappers} build-tool wrappers modelled; ${(r.wallMs / 1000).toFixed(1)} s\n`,
          );
          process.stderr.write(fallbackSummary(s.fallbacks));
        }
        return r.exitCode;
      }),
    );
}

/** Thunks gg infer runs at once (compiles under --force, placeholders a real tool reads): the machine's CPUs. */
function inferForceJobs(): number {
  const set = Number(process.env['GG_INFER_FORCE_JOBS']);
  return Number.isInteger(set) && set > 0 ? set : defaultJobs();
}

/**
 * What `gg infer` forces placeholders with before a real tool reads them: a runtime on the build's sandbox and
 * store, opened on first use (most builds never need it) and closed by the caller.
 */
function placeholderForcer(
  ro: RuntimeOptions,
  jobs: number,
): {
  force: ForcePlaceholders;
  context: () => Promise<Runtime>;
  close(): Promise<void>;
} {
  let rt: Promise<Runtime> | undefined;
  return {
    context: () => (rt ??= openRuntime(ro)),
    force: async (files) => {
      rt ??= openRuntime(ro);
      const report = await forceTargets(await rt, files, {
        jobs,
        onEvent: showThunkLogs(process.stderr),
      });
      const failed = report.targets.filter((t) => t.error);
      if (failed.length === 0) return;
      // The cause (a thunk that failed, say a link the build's own command got wrong) is the user's to fix, as
      // make's error would be: its code and output, not an internal error.
      const cause = report.problems[0] ?? failed[0]!.error!;
      const names = failed.map((t) => path.relative(process.cwd(), t.target) || t.target);
      throw new GgError(
        cause.code,
        `the build's ${names.length === 1 ? 'output' : `${names.length} outputs`} ${names.join(', ')} could not be made: ${cause.message}`,
        { hint: cause.hint ?? 'fix the failing command (its output is above), then run gg infer again', cause },
      );
    },
    close: async () => {
      if (rt)
        await rt.then(
          (opened) => opened.close(),
          () => {},
        );
    },
  };
}
