/** gg test gtest: argv -> runGtest(); failures with their output and a summary on stderr, JUnit XML to a file. */
import fs from 'node:fs';
import type { Command } from 'commander';
import { parseEngineSpec } from '../../engine/engine-spec.js';
import { GgError } from '../../errors.js';
import { caseSuite, runGtest, DEFAULT_CASE_TIMEOUT_S, type GtestReport } from '../../frontend/gtest/gtest.js';
import { junitXml } from '../../frontend/gtest/junit.js';
import { openRuntime } from '../../runtime.js';
import { action, collect } from '../errors.js';
import { closeRuntime, startForceUi } from '../force-ui.js';
import {
  parseCount,
  runtimeFromFlags,
  type RunFlags,
  withExecutionOptions,
  withStorageOptions,
} from '../sandbox-flags.js';
import { argsAfterDashDash } from './operands.js';

interface Opts extends RunFlags {
  shards?: number;
  perTest?: boolean;
  data: string[];
  junit?: string;
  caseTimeout: number;
  json?: boolean;
}

export function registerTest(program: Command): void {
  const test = program.command('test').description('run a test suite as thunks: one runner per kind of suite');
  withStorageOptions(
    withExecutionOptions(
      test
        .command('gtest')
        .description('run Google Test binaries: cases listed, sharded into thunks, run in the jail, memoized')
        .argument(
          '<binaries...>',
          'test binaries (a gg infer placeholder is built first); after --, arguments for every run',
        ),
    ),
  )
    .option('-e, --engine <engine>', 'execution engine', 'local')
    .option(
      '--shards <n>',
      'this many shards per binary (default: chosen from measured case times)',
      parseCount('--shards'),
    )
    .option('--per-test', 'one thunk per test case')
    .option('--data <dir>', 'a directory of files the tests read, declared at its absolute path (repeat)', collect, [])
    .option('--junit <file>', 'write a JUnit XML report')
    .option(
      '--case-timeout <s>',
      `per case: a case still running after this many seconds fails as timed out (default ${DEFAULT_CASE_TIMEOUT_S})`,
      parseCount('--case-timeout'),
      DEFAULT_CASE_TIMEOUT_S,
    )
    .option('--json', 'print one JSON report on stdout instead of the runner-style text')
    .option('-s, --no-status', 'no status line')
    .option('-v, --verbose', 'a line per thunk started and finished, and every case with its status')
    .addHelpText(
      'after',
      '\nExamples:\n  gg test gtest build/foo_test\n  gg test gtest --junit report.xml --data testdata build/*_test -- --gtest_filter=-*Slow*',
    )
    .action(
      action(async (operands: string[], o: Opts, cmd: Command) => {
        if (o.shards !== undefined && o.perTest)
          throw new GgError('GG_E_USAGE', '--shards and --per-test exclude each other');
        const engine = parseEngineSpec(o.engine);
        const { before: binaries, after: args } = argsAfterDashDash(cmd, operands);
        const rt = await openRuntime({ engine, ...runtimeFromFlags(o) });
        // Ctrl-C cancels queued and running thunks, as in gg force; what finished stays recorded.
        const { progress, interrupt } = startForceUi({
          status: o.status,
          verbose: o.verbose,
          machine: o.json === true,
        });
        try {
          const report = await runGtest(rt, {
            binaries,
            args,
            dataDirs: o.data,
            jobs: o.jobs,
            caseTimeoutS: o.caseTimeout,
            onEvent: progress.onEvent,
            signal: interrupt.signal,
            ...(o.perTest ? { shards: 'per-test' as const } : o.shards !== undefined ? { shards: o.shards } : {}),
          });
          progress.finish();
          if (o.json) printJson(report);
          else printReport(report, binaries.length > 1, o.verbose === true);
          if (o.junit) writeJunit(o.junit, report, binaries.length > 1);
          return report.counts.failed + report.counts.crashed + report.counts.timeout > 0 ? 1 : 0;
        } finally {
          interrupt.done();
          await closeRuntime(rt, { notes: true });
        }
      }),
    );
}

const LABEL: Record<string, string> = {
  passed: '[       OK ]',
  failed: '[  FAILED  ]',
  crashed: '[  CRASHED ]',
  timeout: '[  TIMEOUT ]',
  skipped: '[  SKIPPED ]',
  disabled: '[ DISABLED ]',
};

function printReport(r: GtestReport, multi: boolean, verbose: boolean): void {
  const out = process.stdout;
  const label = (c: GtestReport['cases'][number]): string =>
    `${LABEL[c.status]} ${multi ? `${c.binary}: ` : ''}${c.name}${c.timeMs !== undefined ? ` (${c.timeMs} ms)` : ''}${c.reason ? `: ${c.reason}` : ''}`;
  const bad = r.cases.filter((c) => c.status === 'failed' || c.status === 'crashed' || c.status === 'timeout');
  if (verbose) for (const c of r.cases) out.write(`${label(c)}\n`);
  for (const c of bad) out.write(`\n${label(c)}\n${c.output}${c.output.endsWith('\n') || c.output === '' ? '' : '\n'}`);
  if (bad.length > 0) {
    out.write(`\n${bad.length} FAILED TEST${bad.length === 1 ? '' : 'S'}:\n`);
    for (const c of bad) out.write(`${label(c)}\n`);
  }
  const n = r.counts;
  const parts = [
    `${n.passed} passed`,
    `${n.failed} failed`,
    ...(n.crashed ? [`${n.crashed} crashed`] : []),
    ...(n.timeout ? [`${n.timeout} timed out`] : []),
    ...(n.skipped ? [`${n.skipped} skipped`] : []),
    ...(n.disabled ? [`${n.disabled} disabled`] : []),
  ];
  out.write(
    `gg test: ${r.cases.length} tests: ${parts.join(', ')}; ${r.shards} shard${r.shards === 1 ? '' : 's'}, ${r.executed} thunks run, ${r.cached} from the memo, ${(r.wallMs / 1000).toFixed(1)} s\n`,
  );
}

function printJson(r: GtestReport): void {
  process.stdout.write(
    JSON.stringify({
      counts: r.counts,
      binaries: r.binaries.map((b) => ({ binary: b.binary, shards: b.shards, shards_run: b.shardsRun })),
      cases: r.cases.map((c) => ({
        binary: c.binary,
        name: c.name,
        status: c.status,
        ...(c.timeMs !== undefined ? { time_ms: c.timeMs } : {}),
        ...(c.reason ? { reason: c.reason } : {}),
      })),
      executed: r.executed,
      cached: r.cached,
      wall_ms: Math.round(r.wallMs),
    }) + '\n',
  );
}

function writeJunit(file: string, r: GtestReport, multi: boolean): void {
  const xml = junitXml(
    r.cases.map((c) => {
      const { suite, test } = caseSuite(c.name);
      return {
        suite: multi ? `${c.binary}:${suite}` : suite,
        name: test,
        status: c.status,
        output: c.output,
        ...(c.timeMs !== undefined ? { timeMs: c.timeMs } : {}),
        ...(c.reason ? { reason: c.reason } : {}),
      };
    }),
    'gg test gtest',
  );
  const tmp = `${file}.gg-tmp-${process.pid}`;
  fs.writeFileSync(tmp, xml);
  fs.renameSync(tmp, file);
}
