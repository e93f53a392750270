#!/usr/bin/env node
/**
 * gg-force-and-run: the interpreter named in a placeholder's shebang. Running a placeholder forces it
 * (replacing the file with its output) and then runs the result with the same arguments, so a build that
 * executes something still a placeholder just works.
 */
import { spawnSync } from 'node:child_process';
import { GgError } from '../errors.js';
import { forceTargets, showThunkLogs } from '../force/force-command.js';
import { defaultJobs, openRuntime } from '../runtime.js';
import { parseSandboxKind } from '../sandbox/sandbox-kind.js';
import { reportError } from './errors.js';
import { storageFromFlags } from './sandbox-flags.js';
import { stderr } from './stdio.js';

async function main(argv: string[]): Promise<number> {
  const [file, ...args] = argv;
  if (!file) throw new GgError('GG_E_USAGE', 'usage: gg-force-and-run PLACEHOLDER [ARGS...]');
  // Run by a build, not a user: the environment is its only configuration (gg infer sets GG_SANDBOX and
  // GG_STORAGE_URI for the build; GG_MEMO_KEY_FILE signs and checks the memo as it does for gg force).
  const rt = await openRuntime({
    sandbox: parseSandboxKind(process.env['GG_SANDBOX'] ?? 'bwrap'),
    ...storageFromFlags({}),
  });
  try {
    const report = await forceTargets(rt, [file], { jobs: defaultJobs(), onEvent: showThunkLogs(stderr) });
    for (const e of report.problems) reportError(e);
    if (!report.ok) return 1;
  } finally {
    await rt.close();
  }
  const r = spawnSync(file, args, { stdio: 'inherit' });
  if (r.error) throw new GgError('GG_E_INFRA', `could not run ${file} after forcing it: ${r.error.message}`);
  if (r.signal) process.kill(process.pid, r.signal);
  return r.status ?? 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.exitCode = reportError(e);
  },
);
