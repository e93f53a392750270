/**
 * What `gg force` does once its arguments are parsed: open a runtime, force, print the report. Apart from the
 * command's declaration (commands/force.ts) so a `gg force` whose arguments need no commander
 * (force-argv.ts) runs the very same code without loading it.
 */
import { parseEngineSpec } from '../engine/engine-spec.js';
import type { Engine } from '../engine/engine.js';
import { forceTargets, type ForceReport } from '../force/force-command.js';
import type { ForceEvent } from '../force/force.js';
import { eventRecord } from '../force/job-trace.js';
import { openRuntime } from '../runtime.js';
import { reportError } from './errors.js';
import { closeRuntime, startForceUi } from './force-ui.js';
import { lambdaFromFlags, type LambdaFlags } from './lambda-flags.js';
import { runtimeFromFlags, type StorageFlags } from './sandbox-flags.js';
import { stderr, stdout } from './stdio.js';

/** `gg force`'s options, as commander parses them (defaults included). */
export interface ForceOpts extends LambdaFlags, StorageFlags {
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

/** Force `targets` as `gg force` does; the exit code. */
export async function runForce(targets: string[], o: ForceOpts): Promise<number> {
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
        stdout.write(JSON.stringify(eventRecord(e, Date.now() - t0)) + '\n');
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
        if (o.jsonEvents) stdout.write(JSON.stringify({ type: 'job', id: trace.id, file: trace.file }) + '\n');
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
      stdout.write(
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
    if (o.json) stdout.write(JSON.stringify(jsonSummary(report, rt.engine)) + '\n');
    else if (!o.jsonEvents) {
      for (const t of report.targets) {
        if (t.result && t.target !== t.ref) continue; // placeholder replaced in place: nothing to print
        if (t.result) stdout.write(`${t.result}\n`);
        if (t.upToDate) stderr.write(`gg: ${t.target} is not a placeholder (already built)\n`);
      }
    }
    if (!machine && report.speculation.duplicates > 0) {
      const sp = report.speculation;
      stderr.write(
        `gg: ${sp.duplicates} straggler duplicate(s) ran, ${sp.won} finished first, saving about ${(sp.savedMs / 1000).toFixed(1)} s\n`,
      );
    }
    if (report.failedTargets > 0) {
      stderr.write(`gg: ${report.failedTargets} of ${report.targets.length} target(s) failed\n`);
      return 1;
    }
    return report.ok ? 0 : 1;
  } finally {
    interrupt.done();
    await closeRuntime(rt, { notes: !machine });
  }
}

function printInterrupted(report: ForceReport, cancelled: number, jsonEvents: boolean): void {
  stderr.write(
    `gg: interrupted: stopped ${cancelled} running thunk(s); ${report.executed} finished and ${report.cached} cached result(s) are kept in the memo. Nothing was left half-written: placeholders of unfinished targets are unchanged.\n`,
  );
  stderr.write(`gg: run the same command again to resume${report.job ? `; the trace is ${report.job.file}` : ''}\n`);
  if (jsonEvents)
    stdout.write(
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
