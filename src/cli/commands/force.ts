/** gg force: the command's arguments and options; what it does is runForce (../force-action.ts). */
import type { Command } from 'commander';
import { action } from '../errors.js';
import { runForce } from '../force-action.js';
import { withLambdaOptions } from '../lambda-flags.js';
import { withExecutionOptions, withStorageOptions } from '../sandbox-flags.js';

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
    .action(action(runForce));
}
