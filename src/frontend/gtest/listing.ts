/**
 * Reading `BINARY --gtest_list_tests`, and each case's outcome from what the binary printed. The listing and
 * the output come from the program under test: hostile input, so names are checked before they go into
 * argv (`--gtest_filter=NAME`) and a case file.
 */
import { GgError } from '../../errors.js';

export interface GtestCase {
  /** Suite.Test, as --gtest_filter takes it (parameterized: Prefix/Suite.Test/0). */
  name: string;
  /** DISABLED_ suite or test: listed, but run only with --gtest_also_run_disabled_tests. */
  disabled: boolean;
}

const NAME_PART = /^[A-Za-z0-9_/]+$/;
const MAX_CASES = 100_000;

export function parseGtestList(text: string, binary: string): GtestCase[] {
  const cases: GtestCase[] = [];
  const seen = new Set<string>();
  let suite: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (!line.startsWith(' ')) {
      // "Suite." or "Prefix/Suite."; anything else unindented is a main()'s chatter ("Running main() from ...").
      suite = line.endsWith('.') && NAME_PART.test(line.slice(0, -1)) ? line.slice(0, -1) : undefined;
      continue;
    }
    if (suite === undefined) continue;
    const test = line.trim();
    if (!NAME_PART.test(test)) throw badList(binary, raw);
    const name = `${suite}.${test}`;
    if (seen.has(name)) continue;
    seen.add(name);
    const disabled = suite.split('/').some((p) => p.startsWith('DISABLED_')) || test.startsWith('DISABLED_');
    cases.push({ name, disabled });
    if (cases.length > MAX_CASES) throw new GgError('GG_E_USAGE', `${binary} lists more than ${MAX_CASES} test cases`);
  }
  return cases;
}

function badList(binary: string, line: string): GgError {
  return new GgError(
    'GG_E_USAGE',
    `${binary} --gtest_list_tests printed a line that is not a Google Test listing: '${line.slice(0, 120)}'`,
    {
      hint: 'give a Google Test binary (built with gtest_main or calling RUN_ALL_TESTS)',
    },
  );
}

export type CaseStatus = 'passed' | 'failed' | 'skipped' | 'disabled' | 'crashed' | 'timeout';

export interface CaseOutcome {
  status: CaseStatus;
  /** As gtest measured it, or undefined (crash, timeout, not run). */
  timeMs?: number;
  /** Why it failed, beyond the output: "killed by SIGSEGV", "timed out after 60 s", "exit status 3". */
  reason?: string;
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  3: 'SIGQUIT',
  4: 'SIGILL',
  5: 'SIGTRAP',
  6: 'SIGABRT',
  7: 'SIGBUS',
  8: 'SIGFPE',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  13: 'SIGPIPE',
  15: 'SIGTERM',
};

/**
 * The outcome of one case run alone (`--gtest_filter=NAME`) under `timeout`: its exit status and its output.
 * 124 (and 137 after timeout's own KILL) is the timeout; 128+N a signal; gtest's own lines give the time.
 */
export function caseOutcome(name: string, exitStatus: number, output: string, timeoutS: number): CaseOutcome {
  const esc = name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const m = new RegExp(`^\\[ {2}(?:     OK|FAILED |SKIPPED) \\] ${esc} \\((\\d+) ms\\)`, 'm').exec(output);
  const timeMs = m ? Number(m[1]) : undefined;
  const withTime = (o: CaseOutcome): CaseOutcome => (timeMs === undefined ? o : { ...o, timeMs });
  if (exitStatus === 124 || exitStatus === 137)
    return { status: 'timeout', reason: `timed out after ${timeoutS} s and was killed` };
  if (exitStatus > 128)
    return { status: 'crashed', reason: `killed by ${SIGNALS[exitStatus - 128] ?? `signal ${exitStatus - 128}`}` };
  if (exitStatus !== 0) {
    const ranToEnd = new RegExp(`^\\[  FAILED  \\] ${esc}\\b`, 'm').test(output);
    return withTime({ status: 'failed', ...(ranToEnd ? {} : { reason: `exit status ${exitStatus}` }) });
  }
  if (new RegExp(`^\\[  SKIPPED \\] ${esc} \\(`, 'm').test(output)) return withTime({ status: 'skipped' });
  if (new RegExp(`^\\[       OK \\] ${esc} \\(`, 'm').test(output)) return withTime({ status: 'passed' });
  // Exit 0 without gtest's line for the case: the filter ran nothing (the case vanished, or ARGS filtered it).
  return { status: 'failed', reason: 'the binary exited 0 without running the case' };
}
