/**
 * `gg test gtest`: a Google Test binary's cases as thunks. The cases are listed by a thunk (the binary runs
 * only in the jail), packed into shards (plan.ts), and each shard is a thunk that runs its cases one process
 * each (`--gtest_filter=CASE` under `timeout`), so a crash or hang is that case's failure and its output is
 * its own. Every shard succeeds as a thunk whatever its cases do, so results, failures included, are
 * memoized: an unchanged binary and data run nothing. A binary that is still a placeholder is forced first
 * and put in place, as `gg force` does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../../errors.js';
import { forceRefs, type ForceContext } from '../../force/force-command.js';
import type { ForceEvent } from '../../force/force.js';
import { placeOutput } from '../../force/targets.js';
import { readPlaceholder } from '../../ir/placeholder.js';
import type { ThunkInput } from '../../ir/thunk.js';
import { findOnPath } from '../executable-closure.js';
import { Remembered, rememberedKey } from '../remembered.js';
import { GraphBuilder, type WrittenThunk } from '../sdk.js';
import { caseOutcome, parseGtestList, type CaseOutcome, type CaseStatus } from './listing.js';
import { planShards } from './plan.js';

export interface GtestOptions {
  binaries: string[];
  /** Passed to every run of the binary (after `--` on the command line). */
  args?: string[];
  /** Directories of files the tests read, each declared at its absolute path. */
  dataDirs?: string[];
  jobs: number;
  /** Default: chosen from measured case times. */
  shards?: number | 'per-test';
  /** Per case, in seconds: a case still running then is killed and reported as timed out. */
  caseTimeoutS?: number;
  onEvent?: (e: ForceEvent) => void;
  /** Aborting cancels queued and running thunks (Ctrl-C). */
  signal?: AbortSignal;
}

export interface GtestCaseResult extends CaseOutcome {
  binary: string;
  name: string;
  output: string;
}

export interface GtestBinaryReport {
  binary: string;
  shards: number;
  /** Shards that ran this time (the others were answered by the memo). */
  shardsRun: number;
}

export interface GtestReport {
  cases: GtestCaseResult[];
  binaries: GtestBinaryReport[];
  counts: Record<CaseStatus, number>;
  shards: number;
  /** Thunks run / answered by the memo, over the listing and shard steps (and a placeholder's build). */
  executed: number;
  cached: number;
  wallMs: number;
}

export const DEFAULT_CASE_TIMEOUT_S = 300;
const MAX_OUTPUT_CHARS = 1024 * 1024;

/** Runs inside the jail: `list BINARY ARGS...` or `run BINARY TIMEOUT_S ARGS...` (cases in gg-gtest-cases). */
const RUNNER = `# gg test gtest's runner (inside the jail)
mode=$1; bin=$2; shift 2
if [ "$mode" = list ]; then exec "$bin" --gtest_list_tests "$@" > list; fi
t=$1; shift
i=0
: > status
while IFS= read -r c; do
  timeout -k 5 "$t" "$bin" --gtest_color=no "$@" "--gtest_filter=$c" < /dev/null > "out$i" 2>&1
  echo $? >> status
  i=$((i + 1))
done < gg-gtest-cases
`;

interface Times {
  [test: string]: number;
}
const isTimes = (v: unknown): v is Times =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.values(v).every((t) => typeof t === 'number' && t >= 0 && Number.isFinite(t));
const isPlan = (v: unknown): v is string[][] =>
  Array.isArray(v) && v.every((s) => Array.isArray(s) && s.every((c) => typeof c === 'string'));

function findProgram(cmd: string): string {
  const p = findOnPath(cmd);
  if (p) return p;
  throw new GgError('GG_E_FILE_NOT_FOUND', `${cmd} is not installed`, {
    hint: `gg test runs each case under ${cmd}: install coreutils`,
  });
}

export async function runGtest(rt: ForceContext, o: GtestOptions): Promise<GtestReport> {
  const t0 = performance.now();
  if (o.binaries.length === 0)
    throw new GgError('GG_E_USAGE', 'no test binary given', { hint: 'gg test gtest BINARY... [-- ARGS]' });
  const args = o.args ?? [];
  const timeoutS = o.caseTimeoutS ?? DEFAULT_CASE_TIMEOUT_S;
  if (!Number.isInteger(timeoutS) || timeoutS <= 0 || timeoutS > 86_400)
    throw new GgError('GG_E_USAGE', `a case timeout must be 1 to 86400 seconds, got ${timeoutS}`);
  let executed = 0;
  let cached = 0;
  const force = async (refs: string[]): Promise<Map<string, string>> => {
    const out = await forceRefs(rt, refs, {
      jobs: o.jobs,
      ...(o.onEvent ? { onEvent: o.onEvent } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    executed += out.executed;
    cached += out.cached;
    // The thunk that failed itself says why; its dependants only that it did.
    for (const ref of refs)
      if (!out.results.has(ref))
        throw out.failures[0]?.error ?? out.errors.get(ref) ?? new GgError('GG_E_INTERNAL', `no result for ${ref}`);
    return out.results;
  };

  // 1. Binaries still placeholders (gg infer) are built first and put in place. The test thunks then name
  //    the built binary by content, exactly as for a binary built any other way: the same binary gives the
  //    same thunks whether it came from a placeholder or not, so its results are found in the memo either way.
  const binaries = o.binaries.map((b) => {
    const abs = path.resolve(b);
    if (!fs.statSync(abs, { throwIfNoEntry: false })?.isFile())
      throw new GgError('GG_E_FILE_NOT_FOUND', `test binary ${b} does not exist`, {
        hint: 'build it first (or gg infer the build: a placeholder is forced here)',
      });
    return { spec: b, abs, ref: readPlaceholder(abs) };
  });
  const pending = binaries.filter((b) => b.ref !== undefined);
  if (pending.length > 0) {
    const built = await force(pending.map((b) => b.ref!));
    for (const b of pending) await placeOutput(rt.store, b.abs, built.get(b.ref!)!);
  }

  // 2. The closure every thunk runs with: sh, timeout, the binaries (and their libraries), the data.
  const g = new GraphBuilder(rt.local);
  //    Each binary's thunks declare only its own closure: rebuilding one binary changes no other's thunks.
  const timeout = findProgram('timeout');
  const runner = { name: g.value(RUNNER), filename: 'gg-gtest.sh' };
  const data: ThunkInput[] = (o.dataDirs ?? []).flatMap((d) => g.dataDir(d));
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', TMPDIR: '/tmp', GTEST_COLOR: 'no' };
  const bases = binaries.map((b) => {
    const tools = g.tools(['/bin/sh', timeout, b.abs]);
    return { function: tools.names.get('/bin/sh')!, env, executables: tools.inputs };
  });

  // 3. List the cases, in the jail.
  const listings = binaries.map((b, bi) =>
    g.thunk({
      ...bases[bi]!,
      args: ['sh', 'gg-gtest.sh', 'list', b.abs, ...args],
      values: [runner, ...data],
      outputs: ['list'],
    }),
  );
  const listed = await force(listings.map((l) => l.name));
  const alsoDisabled = args.some((a) => /^--gtest_also_run_disabled_tests(=1)?$/.test(a));

  // 4. Shards: the plan made the first time this listing (binary, closure, args) was seen is kept, so the
  //    same binary always gives the same thunks (memoized); a new binary is planned from measured times.
  const plans = new Remembered(rt.local, 'gtest-plans', isPlan);
  const timesStore = new Remembered(rt.local, 'gtest-times', isTimes);
  const policy = o.shards === undefined ? 'auto' : String(o.shards);
  const perBinary = await Promise.all(
    binaries.map(async (b, bi) => {
      const cases = parseGtestList((await rt.store.get(listed.get(listings[bi]!.name)!)).toString('utf8'), b.spec);
      const toRun = cases.filter((c) => alsoDisabled || !c.disabled).map((c) => c.name);
      // The listing thunk's name covers the binary's content, its closure and ARGS.
      const planKey = rememberedKey(['plan', listings[bi]!.name, data.map((d) => d.name), timeoutS, policy]);
      const timesKey = rememberedKey(['times', b.abs]);
      const times = new Map(Object.entries(timesStore.get(timesKey) ?? {}));
      let plan = plans.get(planKey);
      if (!plan || plan.flat().sort().join('\n') !== [...toRun].sort().join('\n')) {
        plan = planShards(toRun, times, {
          jobs: o.jobs,
          binaries: binaries.length,
          ...(o.shards !== undefined ? { shards: o.shards } : {}),
        });
        plans.set(planKey, plan);
      }
      const shards = plan.map((shard) =>
        g.thunk({
          ...bases[bi]!,
          args: ['sh', 'gg-gtest.sh', 'run', b.abs, String(timeoutS), ...args],
          values: [runner, { name: g.value(shard.join('\n') + '\n'), filename: 'gg-gtest-cases' }, ...data],
          outputs: ['status', ...shard.map((_, i) => `out${i}`)],
          // The cases' own timeouts end a hang; this only bounds a shard that somehow outlives all of them.
          timeoutMs: Math.min(shard.length * (timeoutS + 10) * 1000 + 60_000, 2 ** 31 - 1),
        }),
      );
      return { b, cases, shards, plan, timesKey, times };
    }),
  );
  rt.local.hashCache.flush();

  // 5. Run every shard of every binary in one graph.
  const refs = perBinary.flatMap(({ shards, plan }) =>
    shards.flatMap((s, si) => [s.name, ...plan[si]!.map((_, i) => s.output(`out${i}`))]),
  );
  const ran = new Set<string>();
  const onEvent = (e: ForceEvent): void => {
    if (e.type === 'finished') ran.add(e.name);
    o.onEvent?.(e);
  };
  const outcome = await forceRefs(rt, refs, { jobs: o.jobs, onEvent, ...(o.signal ? { signal: o.signal } : {}) });
  executed += outcome.executed;
  cached += outcome.cached;

  // 6. Read each case's status and output; remember the times measured.
  const results: GtestCaseResult[] = [];
  for (const { b, cases, shards, plan, timesKey, times } of perBinary) {
    const byName = new Map<string, GtestCaseResult>();
    for (const [si, shard] of shards.entries()) {
      await readShard(rt, shard, plan[si]!, outcome.results, outcome.errors, timeoutS, b.spec, byName);
    }
    for (const c of cases) {
      const r = byName.get(c.name) ?? { binary: b.spec, name: c.name, status: 'disabled' as const, output: '' };
      results.push(r);
      if (r.timeMs !== undefined) times.set(c.name, r.timeMs);
    }
    timesStore.set(timesKey, Object.fromEntries(times));
  }
  const counts: Record<CaseStatus, number> = { passed: 0, failed: 0, skipped: 0, disabled: 0, crashed: 0, timeout: 0 };
  for (const r of results) counts[r.status]++;
  const reports = perBinary.map(({ b, shards }) => ({
    binary: b.spec,
    shards: shards.length,
    shardsRun: shards.filter((s) => ran.has(s.name)).length,
  }));
  return {
    cases: results,
    binaries: reports,
    counts,
    shards: perBinary.reduce((s, p) => s + p.shards.length, 0),
    executed,
    cached,
    wallMs: performance.now() - t0,
  };
}

async function readShard(
  rt: ForceContext,
  shard: WrittenThunk,
  cases: readonly string[],
  results: ReadonlyMap<string, string>,
  errors: ReadonlyMap<string, GgError>,
  timeoutS: number,
  binary: string,
  into: Map<string, GtestCaseResult>,
): Promise<void> {
  const status = results.get(shard.name);
  if (status === undefined) {
    // The shard itself broke (a jail limit, the store): its cases did not get a verdict of their own.
    const e = errors.get(shard.name);
    for (const name of cases)
      into.set(name, {
        binary,
        name,
        status: 'crashed',
        reason: `its shard failed: ${e?.code ?? 'GG_E_INTERNAL'}`,
        output: e?.message ?? '',
      });
    return;
  }
  const codes = (await rt.store.get(status))
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
  for (const [i, name] of cases.entries()) {
    const outName = results.get(shard.output(`out${i}`));
    let output = outName === undefined ? '' : (await rt.store.get(outName)).toString('utf8');
    if (output.length > MAX_OUTPUT_CHARS)
      output = `${output.slice(0, MAX_OUTPUT_CHARS)}\n[gg: output cut at ${MAX_OUTPUT_CHARS} characters]\n`;
    const code = Number(codes[i]);
    const verdict =
      Number.isInteger(code) && code >= 0 && code < 256
        ? caseOutcome(name, code, output, timeoutS)
        : { status: 'crashed' as const, reason: 'the runner recorded no exit status' };
    into.set(name, { binary, name, output, ...verdict });
  }
}

/** Suite and test of a case name (a suite has no '.'; a parameterized test may have '/'). */
export function caseSuite(name: string): { suite: string; test: string } {
  const dot = name.indexOf('.');
  return { suite: name.slice(0, dot), test: name.slice(dot + 1) };
}
