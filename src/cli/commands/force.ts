/** gg force: argv -> forceTargets(), progress on stderr, results or JSON on stdout. */
import type { Command } from 'commander';
import { parseEngineSpec } from '../../engine/engine-spec.js';
import { forceTargets } from '../../force/force-command.js';
import type { ForceEvent } from '../../force/force.js';
import { eventRecord, type JobTrace } from '../../force/job-trace.js';
import { nondeterminismError, verifyRefs, type VerifyOutcome } from '../../force/verify.js';
import { openRuntime } from '../../runtime.js';
import { readMemoKey } from '../../store/memo-signer.js';
import { action, reportError } from '../errors.js';
import { ProgressReporter } from '../progress.js';
import { lambdaFromFlags, withLambdaOptions, type LambdaFlags } from '../lambda-flags.js';
import {
  limitsFromFlags,
  sandboxFromFlags,
  STORAGE_HELP,
  storageUriFromFlags,
  withExecutionOptions,
} from '../sandbox-flags.js';

interface Opts extends LambdaFlags {
  jobs: number;
  sandbox: string;
  json?: boolean;
  jsonEvents?: boolean;
  trace: boolean;
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
  storageReadOnly?: boolean;
  memoKeyFile?: string;
  speculation: boolean;
  placement: boolean;
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
      'local, cluster[=redis://host:port] (gg worker processes on any hosts; the queue defaults to the --storage Redis), or lambda=FUNCTION (AWS Lambda; needs --storage s3://...)',
      'local',
    ),
  )
    .option('--no-speculation', 'never duplicate stragglers (remote engines)')
    .option('--no-placement', 'ignore where inputs are cached when choosing a worker (to measure placement)')
    .option('--fail-fast', 'stop everything at the first failure')
    .option('--json', 'print one JSON summary on stdout')
    .option('--json-events', 'stream every scheduler event as one JSON line on stdout (the job trace format)')
    .option('--no-trace', 'do not record this job in .gg/jobs (gg trace, gg explain and gg gc use those records)')
    .option('-s, --no-status', 'no status line')
    .option('-v, --verbose', 'a line per thunk started and finished')
    .option('--keep-failed', 'keep the working directory of failed thunks')
    .option('--storage <uri>', STORAGE_HELP)
    .option('--check', 'then run every thunk a second time (memo ignored) and fail if any output differs')
    .option('--storage-read-only', 'never write to the shared store (a reader of a cache trusted writers fill)')
    .option(
      '--memo-key-file <file>',
      'key for signed memo entries on the shared store: sign what is written, ignore unsigned entries (default: $GG_MEMO_KEY_FILE)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  gg force --jobs 2 src/lua\n  gg force --json Tke2Dyl8WxILsHwIUq2UbAnKs9ifAewLDgeEK7vnfcgM00000179\n  gg force --engine lambda=gg-ts --storage s3://my-bucket/gg --jobs 1000 --max-cost 2.00 git',
    )
    .action(
      action(async (targets: string[], o: Opts) => {
        const engine = parseEngineSpec(o.engine);
        const sandbox = sandboxFromFlags(o);
        const storageUri = storageUriFromFlags(o);
        const memoKey = readMemoKey(o.memoKeyFile ?? process.env['GG_MEMO_KEY_FILE']);
        const lambda = lambdaFromFlags(o);
        const rt = await openRuntime({
          engine,
          placement: o.placement,
          sandbox,
          limits: limitsFromFlags(o),
          keepFailed: o.keepFailed ?? false,
          ...(storageUri ? { storageUri } : {}),
          ...(memoKey ? { memoKey } : {}),
          storageReadOnly: o.storageReadOnly === true,
          ...(lambda ? { lambda } : {}),
          ...(o.fallbackEngine === 'local' ? { fallbackEngine: 'local' as const } : {}),
        });
        const machine = o.json === true || o.jsonEvents === true;
        const progress = new ProgressReporter({
          tty: process.stderr.isTTY === true && o.status,
          quiet: machine || !o.status,
          verbose: o.verbose === true,
          stream: process.stderr,
          logs: !machine,
        });
        const t0 = Date.now();
        const onEvent = o.jsonEvents
          ? (e: ForceEvent): void => {
              progress.onEvent(e);
              process.stdout.write(JSON.stringify(eventRecord(e, Date.now() - t0)) + '\n');
            }
          : progress.onEvent;
        // Ctrl-C cancels queued and running thunks (here and on remote workers); what finished stays recorded.
        const interrupt = new InterruptHandler(progress);
        try {
          const report = await forceTargets(rt, targets, {
            jobs: o.jobs,
            failFast: o.failFast === true,
            onEvent,
            onUpload: progress.onUpload,
            signal: interrupt.signal,
            ...(o.speculation ? {} : { speculation: false }),
            argv: process.argv.slice(2),
            trace: o.trace,
            onTraceOpen: (trace) => {
              interrupt.trace = trace;
              if (o.jsonEvents)
                process.stdout.write(JSON.stringify({ type: 'job', id: trace.id, file: trace.file }) + '\n');
            },
            onGcWait: () => progress.line('gg: waiting for a running gg gc to finish'),
          });
          progress.finish();
          if (report.interrupted) {
            interrupt.done();
            process.stderr.write(
              `gg: interrupted: stopped ${progress.cancelled} running thunk(s); ${report.executed} finished and ${report.cached} cached result(s) are kept in the memo. Nothing was left half-written: placeholders of unfinished targets are unchanged.\n`,
            );
            process.stderr.write(
              `gg: run the same command again to resume${report.job ? `; the trace is ${report.job.file}` : ''}\n`,
            );
            if (o.jsonEvents)
              process.stdout.write(
                JSON.stringify({
                  type: 'end',
                  status: 'interrupted',
                  executed: report.executed,
                  cached: report.cached,
                  failed: report.failures.length,
                }) + '\n',
              );
            return 130;
          }
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
          if (o.jsonEvents) {
            process.stdout.write(
              JSON.stringify({
                type: 'end',
                status: report.job?.status ?? (failedTargets > 0 ? 'failed' : 'ok'),
                executed: report.executed,
                cached: report.cached,
                failed: report.failures.length,
                wall_ms: Math.round(report.wallMs),
              }) + '\n',
            );
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
                executed: report.executed,
                cached: report.cached,
                failed: report.failures.length,
                wall_ms: Math.round(report.wallMs),
                ...(report.job ? { job: report.job.id } : {}),
                engine: { name: rt.engine.name, ...(rt.engine.summary?.() ?? {}) },
                ...(rt.engine.speculative
                  ? {
                      speculation: {
                        duplicates: report.speculation.duplicates,
                        won: report.speculation.won,
                        saved_ms: Math.round(report.speculation.savedMs),
                      },
                    }
                  : {}),
              }) + '\n',
            );
          } else if (!o.jsonEvents) {
            for (const t of report.targets) {
              if (t.result && t.target !== t.ref) continue; // placeholder replaced in place: nothing to print
              if (t.result) process.stdout.write(`${t.result}\n`);
              if (t.upToDate) process.stderr.write(`gg: ${t.target} is not a placeholder (already built)\n`);
            }
          }
          if (!machine && report.speculation.duplicates > 0) {
            const sp = report.speculation;
            process.stderr.write(
              `gg: ${sp.duplicates} straggler duplicate(s) ran, ${sp.won} finished first, saving about ${(sp.savedMs / 1000).toFixed(1)} s\n`,
            );
          }
          if (failedTargets > 0) {
            process.stderr.write(`gg: ${failedTargets} of ${report.targets.length} target(s) failed\n`);
            return 1;
          }
          return checkFailed ? 1 : 0;
        } finally {
          interrupt.done();
          if (!machine) for (const n of rt.notices()) process.stderr.write(`gg: note: ${n}\n`);
          await rt.close();
        }
      }),
    );
}

/**
 * Ctrl-C (or SIGTERM) during a force: the first stops the job cleanly (running thunks killed, finished results
 * kept, the trace closed, a message); a second quits at once, after closing the trace. Either way nothing is
 * half-written: every object, memo entry and placeholder is written to a temporary name and renamed.
 */
class InterruptHandler {
  private readonly ac = new AbortController();
  readonly signal = this.ac.signal;
  trace: JobTrace | undefined;
  private readonly handler = (sig: NodeJS.Signals): void => {
    if (!this.ac.signal.aborted) {
      this.progress.line(
        `gg: ${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping the running thunks (press Ctrl-C again to quit at once)`,
      );
      this.ac.abort();
      return;
    }
    this.trace?.close('interrupted', 'quit at once by a second interrupt');
    process.stderr.write(
      `\ngg: quit at once; finished results are kept in the memo, run the same command again to resume${this.trace ? ` (trace: ${this.trace.file})` : ''}\n`,
    );
    process.exit(130);
  };

  constructor(private readonly progress: ProgressReporter) {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }

  done(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}
