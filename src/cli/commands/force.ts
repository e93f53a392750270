/** gg force: argv -> forceTargets(), progress on stderr, results or JSON on stdout. */
import type { Command } from 'commander';
import { parseEngineSpec } from '../../engine/engine-spec.js';
import { forceTargets } from '../../force/force-command.js';
import { nondeterminismError, verifyRefs, type VerifyOutcome } from '../../force/verify.js';
import { openRuntime } from '../../runtime.js';
import { action, reportError } from '../errors.js';
import { ProgressReporter } from '../progress.js';
import { lambdaFromFlags, withLambdaOptions, type LambdaFlags } from '../lambda-flags.js';
import { limitsFromFlags, sandboxFromFlags, withExecutionOptions } from '../sandbox-flags.js';

interface Opts extends LambdaFlags {
  jobs: number;
  sandbox: string;
  json?: boolean;
  failFast?: boolean;
  timeout: number;
  status: boolean;
  verbose?: boolean;
  keepFailed?: boolean;
  check?: boolean;
  memoryLimit?: number;
  outputLimit?: number;
  pidsLimit?: number;
  storage?: string;
}

export function registerForce(program: Command): void {
  withLambdaOptions(
    withExecutionOptions(
      program
        .command('force')
        .description('force thunks to values; placeholders are replaced by their outputs')
        .argument('<targets...>', 'placeholder files, thunk names or thunk files'),
    ).option(
      '-e, --engine <engine>',
      'execution engine: local, or lambda=FUNCTION (AWS Lambda; needs --storage s3://...)',
      'local',
    ),
  )
    .option('--fail-fast', 'stop everything at the first failure')
    .option('--json', 'print one JSON summary on stdout')
    .option('-s, --no-status', 'no status line')
    .option('-v, --verbose', 'a line per thunk started and finished')
    .option('--keep-failed', 'keep the working directory of failed thunks')
    .option(
      '--storage <uri>',
      'shared store: redis://[user:pass@]host:port[/db], rediss://..., s3://bucket[/prefix]?region=..&endpoint=.., gs://bucket (default: $GG_STORAGE_URI, else the local .gg)',
    )
    .option('--check', 'then run every thunk a second time (memo ignored) and fail if any output differs')
    .addHelpText(
      'after',
      '\nExamples:\n  gg force --jobs 2 src/lua\n  gg force --json Tke2Dyl8WxILsHwIUq2UbAnKs9ifAewLDgeEK7vnfcgM00000179\n  gg force --engine lambda=gg-ts --storage s3://my-bucket/gg --jobs 1000 --max-cost 2.00 git',
    )
    .action(
      action(async (targets: string[], o: Opts) => {
        const engine = parseEngineSpec(o.engine);
        const sandbox = sandboxFromFlags(o);
        const storageUri = o.storage ?? process.env['GG_STORAGE_URI'];
        const lambda = lambdaFromFlags(o);
        const rt = await openRuntime({
          engine,
          sandbox,
          limits: limitsFromFlags(o),
          keepFailed: o.keepFailed ?? false,
          ...(storageUri ? { storageUri } : {}),
          ...(lambda ? { lambda } : {}),
          ...(o.fallbackEngine === 'local' ? { fallbackEngine: 'local' as const } : {}),
        });
        const progress = new ProgressReporter({
          tty: process.stderr.isTTY === true && o.status,
          quiet: o.json === true || !o.status,
          verbose: o.verbose === true,
          stream: process.stderr,
          logs: o.json !== true,
          ...(rt.engine.statusText ? { extra: () => rt.engine.statusText?.() } : {}),
        });
        // Ctrl-C cancels queued and running thunks (here and on remote workers); what finished stays recorded.
        const interrupt = new AbortController();
        const onSigint = (): void => interrupt.abort();
        process.once('SIGINT', onSigint);
        try {
          const report = await forceTargets(rt, targets, {
            jobs: o.jobs,
            failFast: o.failFast === true,
            onEvent: progress.onEvent,
            onUpload: progress.onUpload,
            signal: interrupt.signal,
          });
          progress.finish();
          for (const f of report.failures) reportError(f.error);
          let failedTargets = 0;
          for (const t of report.targets) {
            if (t.error) {
              failedTargets++;
              if (
                !report.failures.some((f) => f.error === t.error) &&
                t.error.code !== 'GG_E_DEPENDENCY_FAILED' &&
                t.error.code !== 'GG_E_CANCELLED'
              )
                reportError(t.error);
            }
          }
          let check: VerifyOutcome | undefined;
          let checkFailed = false;
          if (o.check && failedTargets === 0) {
            check = await verifyRefs(
              report.targets.filter((t) => t.result).map((t) => t.ref),
              { store: rt.store, engine: rt.engine, jobs: o.jobs },
            );
            for (const e of check.errors.values()) reportError(e);
            const nd = nondeterminismError(check.differences);
            if (nd) reportError(nd);
            checkFailed = nd !== undefined || check.errors.size > 0;
          }
          if (o.json) {
            process.stdout.write(
              JSON.stringify({
                ...(check ? { check: { checked: check.checked, differences: check.differences } } : {}),
                targets: report.targets.map((t) => ({
                  target: t.target,
                  ref: t.ref,
                  ...(t.result ? { result: t.result } : {}),
                  ...(t.upToDate ? { up_to_date: true } : {}),
                  ...(t.error ? { error: t.error.code } : {}),
                })),
                ...(rt.engine.report ? { engine: { name: rt.engine.name, ...rt.engine.report() } } : {}),
                executed: report.executed,
                cached: report.cached,
                failed: report.failures.length,
                wall_ms: Math.round(report.wallMs),
              }) + '\n',
            );
          } else {
            for (const t of report.targets) {
              if (t.result && t.target !== t.ref) continue; // placeholder replaced in place: nothing to print
              if (t.result) process.stdout.write(`${t.result}\n`);
              if (t.upToDate) process.stderr.write(`gg: ${t.target} is not a placeholder (already built)\n`);
            }
          }
          if (failedTargets > 0) {
            process.stderr.write(`gg: ${failedTargets} of ${report.targets.length} target(s) failed\n`);
            return 1;
          }
          return checkFailed ? 1 : 0;
        } finally {
          process.removeListener('SIGINT', onSigint);
          if (!o.json) for (const n of rt.notices()) process.stderr.write(`gg: note: ${n}\n`);
          await rt.close();
        }
      }),
    );
}
