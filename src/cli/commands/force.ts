/** gg force: argv -> forceTargets(), progress on stderr, results or JSON on stdout. */
import type { Command } from 'commander';
import { parseEngineSpec } from '../../engine/engine-spec.js';
import type { Engine } from '../../engine/engine.js';
import { forceTargets, type ForceReport } from '../../force/force-command.js';
import type { ForceEvent } from '../../force/force.js';
import { eventRecord } from '../../force/job-trace.js';
import { openRuntime } from '../../runtime.js';
import { action, reportError } from '../errors.js';
import { closeRuntime, startForceUi } from '../force-ui.js';
import { lambdaFromFlags, withLambdaOptions, type LambdaFlags } from '../lambda-flags.js';
import { runtimeFromFlags, withExecutionOptions, withStorageOptions, type StorageFlags } from '../sandbox-flags.js';

interface Opts extends LambdaFlags, StorageFlags {
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
  speculation: boolean;
  placement: boolean;
}

export function registerForce(program: Command): void {
  withStorageOptions(
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
    ),
  )
    .option('--no-speculation', 'never duplicate stragglers (remote engines)')
    .option('--no-placement', 'ignore where inputs are cached when choosing a worker (to measure placement)')
    .option('--fail-fast', 'stop everything at the first failure')
    .option('--json', 'print one JSON summary on stdout')
    .option('--json-events', 'stream every scheduler event as one JSON line on stdout (the job trace format)')
    .option('--no-trace', 'do not record this job in .gg/jobs (gg trace, gg explain and gg gc use those records)')
    .option('-s, --no-status', 'no status line')
    .option(
      '-v, --verbose',
      'a line per thunk started, memoized and finished (piped: only runs and failures without it)',
    )
    .option('--keep-failed', 'keep the working directory of failed thunks')
    .option('--check', 'then run every thunk a second time (memo ignored) and fail if any output differs')
    .addHelpText(
      'after',
      '\nExamples:\n  gg force --jobs 2 src/lua\n  gg force --json Tke2Dyl8WxILsHwIUq2UbAnKs9ifAewLDgeEK7vnfcgM00000179\n  gg force --engine lambda=gg-ts --storage s3://my-bucket/gg --jobs 1000 --max-cost 2.00 git',
    )
    .action(
      action(async (targets: string[], o: Opts) => {
        const engine = parseEngineSpec(o.engine);
        const lambda = lambdaFromFlags(o);
        const rt = await openRuntime({
          engine,
          placement: o.placement,
          ...runtimeFromFlags(o),
          keepFailed: o.keepFailed ?? false,
          ...(lambda ? { lambda } : {}),
          ...(o.fallbackEngine === 'local' ? { fallbackEngine: 'local' as const } : {}),
        });
        const machine = o.json === true || o.jsonEvents === true;
        const { progress, interrupt } = startForceUi({
          status: o.status,
          verbose: o.verbose,
          machine,
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
            check: o.check === true,
          });
          progress.finish();
          if (report.interrupted) {
            interrupt.done();
            printInterrupted(report, progress.cancelled, o.jsonEvents === true);
            return 130;
          }
          for (const e of report.problems) reportError(e);
          if (o.jsonEvents) {
            process.stdout.write(
              JSON.stringify({
                type: 'end',
                status: report.job?.status ?? (report.failedTargets > 0 ? 'failed' : 'ok'),
                executed: report.executed,
                cached: report.cached,
                failed: report.failures.length,
                wall_ms: Math.round(report.wallMs),
              }) + '\n',
            );
          }
          if (o.json) process.stdout.write(JSON.stringify(jsonSummary(report, rt.engine)) + '\n');
          else if (!o.jsonEvents) {
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
          if (report.failedTargets > 0) {
            process.stderr.write(`gg: ${report.failedTargets} of ${report.targets.length} target(s) failed\n`);
            return 1;
          }
          return report.ok ? 0 : 1;
        } finally {
          interrupt.done();
          await closeRuntime(rt, { notes: !machine });
        }
      }),
    );
}

function printInterrupted(report: ForceReport, cancelled: number, jsonEvents: boolean): void {
  process.stderr.write(
    `gg: interrupted: stopped ${cancelled} running thunk(s); ${report.executed} finished and ${report.cached} cached result(s) are kept in the memo. Nothing was left half-written: placeholders of unfinished targets are unchanged.\n`,
  );
  process.stderr.write(
    `gg: run the same command again to resume${report.job ? `; the trace is ${report.job.file}` : ''}\n`,
  );
  if (jsonEvents)
    process.stdout.write(
      JSON.stringify({
        type: 'end',
        status: 'interrupted',
        executed: report.executed,
        cached: report.cached,
        failed: report.failures.length,
      }) + '\n',
    );
}

/** `gg force --json`: one object on stdout (field names are an interface: snake_case, stable). */
function jsonSummary(report: ForceReport, engine: Engine): object {
  return {
    ...(report.check ? { check: { checked: report.check.checked, differences: report.check.differences } } : {}),
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
    engine: { name: engine.name, ...(engine.summary?.() ?? {}) },
    ...(engine.speculative
      ? {
          speculation: {
            duplicates: report.speculation.duplicates,
            won: report.speculation.won,
            saved_ms: Math.round(report.speculation.savedMs),
          },
        }
      : {}),
  };
}
