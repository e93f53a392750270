/**
 * Sharding: which cases run together in one thunk. A thunk costs a jail start (tens of ms) on top of its
 * cases, so cheap cases are packed together and expensive ones spread out. With measured times (remembered
 * per binary path in the store) shards are packed longest-first onto the least loaded shard (LPT); without
 * them, cases are dealt round-robin into a few shards per job (shared among the binaries run together).
 */
export interface ShardPolicy {
  jobs: number;
  /** Binaries run together: they share the jobs, so each gets fewer shards (default 1). */
  binaries?: number;
  /** A fixed number of shards (clamped to the number of cases); 'per-test' = one thunk per case. */
  shards?: number | 'per-test';
}

/** A shard worth a jail start: below this, packing more cases together costs nothing noticeable. */
const MIN_SHARD_MS = 400;
/** Shards per job when nothing is known: enough to balance, few enough to keep jail starts cheap. */
const SHARDS_PER_JOB = 3;

/** Cases (in listing order inside each shard, so a shard's thunk is the same for the same plan). */
export function planShards(
  cases: readonly string[],
  times: ReadonlyMap<string, number>,
  policy: ShardPolicy,
): string[][] {
  if (cases.length === 0) return [];
  if (policy.shards === 'per-test') return cases.map((c) => [c]);
  const known = cases.map((c) => times.get(c)).filter((t): t is number => t !== undefined);
  // Enough shards that each job gets a few (balance), shared among the binaries run together...
  const forBalance = Math.ceil((policy.jobs * SHARDS_PER_JOB) / Math.max(1, policy.binaries ?? 1));
  let count: number;
  if (policy.shards !== undefined) count = policy.shards;
  else if (known.length === 0) count = forBalance;
  else {
    // ...and none so small that the jail start dominates.
    const typical = median(known);
    const total = cases.reduce((s, c) => s + (times.get(c) ?? typical), 0);
    count = Math.min(forBalance, Math.ceil(total / MIN_SHARD_MS));
  }
  count = Math.max(1, Math.min(cases.length, count));
  const order = new Map(cases.map((c, i) => [c, i]));
  const shards: string[][] = Array.from({ length: count }, () => []);
  if (known.length === 0) {
    cases.forEach((c, i) => shards[i % count]!.push(c));
    return shards;
  }
  const typical = median(known);
  const load = new Array<number>(count).fill(0);
  const byCost = [...cases].sort(
    (a, b) => (times.get(b) ?? typical) - (times.get(a) ?? typical) || order.get(a)! - order.get(b)!,
  );
  for (const c of byCost) {
    let best = 0;
    for (let i = 1; i < count; i++) if (load[i]! < load[best]!) best = i;
    shards[best]!.push(c);
    // + a little per case so that zero-time cases still spread instead of piling onto shard 0
    load[best]! += (times.get(c) ?? typical) + 1;
  }
  for (const s of shards) s.sort((a, b) => order.get(a)! - order.get(b)!);
  return shards.filter((s) => s.length > 0);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}
