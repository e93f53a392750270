/**
 * `gg force` without commander, for the arguments a build passes most (targets, -j/--jobs, --sandbox, --json,
 * -s/--no-status, -v/--verbose, --no-trace). Why: a memoized force is mostly start-up, and loading and setting up
 * commander (with every option of `gg force` and its help text) was ~5-10 ms of it. Anything else (another
 * flag, a value commander would reject, `--`, a lone `-`, no target, help) returns undefined and goes to
 * commander, so every error is commander's; what is accepted becomes exactly the options commander would give
 * (test/unit/force-argv.test.ts parses the same argument lists with both), and runs the same runForce.
 */
import { DEFAULT_PRICES } from '../engine/lambda/cost.js';
import { LAMBDA_DEFAULTS } from '../engine/lambda/defaults.js';
import { defaultJobs } from '../runtime.js';
import { parseIntOption } from './errors.js';
import type { ForceOpts } from './force-action.js';

/** Flags without a value: what each sets. */
const SWITCHES: Record<string, Partial<ForceOpts>> = {
  '--json': { json: true },
  '-s': { status: false },
  '--no-status': { status: false },
  '-v': { verbose: true },
  '--verbose': { verbose: true },
  '--no-trace': { trace: false },
};

const parseJobs = parseIntOption('--jobs', 65_536);

/** The arguments after `force`, as commander would parse them; undefined when commander must. */
export function parseForceArgv(args: readonly string[]): { targets: string[]; opts: ForceOpts } | undefined {
  const set: Partial<ForceOpts> = {};
  const targets: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-')) {
      targets.push(a);
      continue;
    }
    const on = SWITCHES[a];
    if (on) {
      Object.assign(set, on);
      continue;
    }
    const m = /^(?:(--jobs|--sandbox)(?:=(.*))?|-j(.*))$/s.exec(a);
    if (!m) return undefined;
    const flag = m[1] ?? '--jobs';
    let value = m[2] ?? (m[3] === '' ? undefined : m[3]);
    if (value === undefined) {
      value = args[++i];
      if (value === undefined || value.startsWith('-')) return undefined; // commander's to judge
    }
    if (flag === '--sandbox') set.sandbox = value;
    else {
      try {
        set.jobs = parseJobs(value);
      } catch {
        return undefined; // commander reports it
      }
    }
  }
  if (targets.length === 0) return undefined;
  const opts: ForceOpts = {
    jobs: defaultJobs(),
    sandbox: 'bwrap',
    timeout: 0,
    engine: 'local',
    lambdaMemory: LAMBDA_DEFAULTS.memoryMb,
    lambdaTmp: LAMBDA_DEFAULTS.tmpMb,
    lambdaTimeout: LAMBDA_DEFAULTS.timeoutS,
    priceGbSecond: DEFAULT_PRICES.gbSecond,
    priceRequest: DEFAULT_PRICES.request,
    speculation: true,
    placement: true,
    trace: true,
    status: true,
    ...set,
  };
  return { targets, opts };
}
