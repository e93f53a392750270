/**
 * A discrete-event simulation of a git build (`gg force` of git's graph) on AWS Lambda with W functions.
 * Its own module (the cluster simulation of issue 11 was not on main when this was written).
 *
 *   npm run build && node dist/bench/sim-lambda.js [--json]
 *
 * Inputs, each named where it comes from (docs/SCALING.md, "Lambda", lists them with sources):
 *   measured here   git's graph size and total thunk time (docs/BENCHMARKS.md: 1,501 thunks, cold force 105.6 s
 *                   on 2 jobs), the toolchain closure a compile needs (gcc 12: 74 MiB in 12 objects, from an
 *                   inferred thunk), gg's per-invocation overhead (~35 ms, a warm serverless-offline call; bench/lambda.ts measures ours)
 *   published       Lambda scaling 1,000 new execution environments per 10 s per function, 1,000 concurrent
 *                   executions per account by default; cold start "under 100 ms to over 1 second"; 1,769 MB
 *                   = one vCPU; S3 5,500 GET/s and 3,500 PUT/s per partitioned prefix
 *   assumed         S3 first-byte latency 50 ms, 80 MB/s per function, the split of the measured total over
 *                   compile / assemble / archive / link thunks (below), the client issuing 1,000 invokes/s
 */

export interface SimParams {
  functions: number;
  /** Thunks of each kind (git: 470 sources -> compile + assemble; archives; links). */
  sources: number;
  archives: number;
  links: number;
  compileMeanS: number;
  assembleMeanS: number;
  archiveS: number;
  linkS: number;
  /** Invocation overhead per thunk (request, handler, answer), seconds. */
  invokeS: number;
  coldInitS: number;
  toolchainBytes: number;
  toolchainObjects: number;
  s3LatencyS: number;
  s3BytesPerS: number;
  s3GetsPerS: number;
  /** New execution environments: this many at once, then this many per second. */
  burst: number;
  refillPerS: number;
  clientInvokesPerS: number;
  memoryGb: number;
  priceGbS: number;
  priceRequest: number;
  seed: number;
}

export const GIT: Omit<SimParams, 'functions'> = {
  sources: 470,
  archives: 3,
  links: 36,
  // 211 CPU-seconds measured in all; 150 s compile, 23.5 s assemble, 3 s archives, 36 s links (assumed split).
  compileMeanS: 0.32,
  assembleMeanS: 0.05,
  archiveS: 1.0,
  linkS: 1.0,
  invokeS: 0.035,
  coldInitS: 0.5,
  // An inferred gcc 12 compile thunk's absolute inputs (cc, cc1, their libraries, loader, libc): 12 objects, 74 MiB.
  toolchainBytes: 74 * 1024 ** 2,
  toolchainObjects: 12,
  s3LatencyS: 0.05,
  s3BytesPerS: 80e6,
  s3GetsPerS: 5500,
  burst: 1000,
  refillPerS: 100,
  clientInvokesPerS: 1000,
  memoryGb: 3008 / 1024,
  priceGbS: 0.0000166667,
  priceRequest: 0.0000002,
  seed: 42,
};

interface Node {
  durS: number;
  deps: number[];
  dependants: number[];
  waiting: number;
  /** Objects it fetches besides the toolchain (sources, objects, archives). */
  gets: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** git's shape: per source a compile then an assemble; archives over most objects; links over archives + objects. */
export function gitGraph(p: Omit<SimParams, 'functions'>): Node[] {
  const rand = rng(p.seed);
  // Lognormal compile times (sigma 0.9) with the given mean: a few big files dominate the critical path.
  const sigma = 0.9;
  const mu = Math.log(p.compileMeanS) - (sigma * sigma) / 2;
  const normal = (): number => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const nodes: Node[] = [];
  const add = (durS: number, deps: number[], gets: number): number => {
    nodes.push({ durS, deps, dependants: [], waiting: deps.length, gets });
    return nodes.length - 1;
  };
  const objects: number[] = [];
  for (let i = 0; i < p.sources; i++) {
    const c = add(Math.exp(mu + sigma * normal()), [], 2);
    objects.push(add(p.assembleMeanS, [c], 1));
  }
  const builtinShare = Math.floor(p.sources * 0.3);
  const libObjects = objects.slice(builtinShare);
  const archives: number[] = [];
  for (let a = 0; a < p.archives; a++) {
    const part = libObjects.filter((_, i) => i % p.archives === a);
    archives.push(add(p.archiveS, part, part.length));
  }
  for (let l = 0; l < p.links; l++) {
    // The first link is git itself (every builtin); the others take a couple of objects of their own.
    const own = l === 0 ? objects.slice(0, builtinShare) : [objects[l % builtinShare]!];
    add(l === 0 ? p.linkS * 2 : p.linkS, [...archives, ...own], archives.length + own.length);
  }
  for (const [i, n] of nodes.entries()) for (const d of n.deps) nodes[d]!.dependants.push(i);
  return nodes;
}

export interface SimResult {
  functions: number;
  wallS: number;
  criticalPathS: number;
  coldStarts: number;
  s3WaitS: number;
  costUsd: number;
  busyS: number;
}

export function simulate(p: SimParams): SimResult {
  const nodes = gitGraph(p);
  // Critical path with no overheads at all: the floor.
  const longest = new Map<number, number>();
  const lp = (i: number): number => {
    const known = longest.get(i);
    if (known !== undefined) return known;
    const n = nodes[i]!;
    const v = n.durS + Math.max(0, ...n.deps.map(lp));
    longest.set(i, v);
    return v;
  };
  const criticalPathS = Math.max(...nodes.map((_, i) => lp(i)));

  const ready: number[] = nodes.flatMap((n, i) => (n.waiting === 0 ? [i] : []));
  const events: { t: number; node: number }[] = [];
  let t = 0;
  let running = 0;
  let created = 0;
  let idleWarm = 0;
  let s3BusyUntil = 0;
  let s3WaitS = 0;
  let clientFreeAt = 0;
  let busyS = 0;
  let done = 0;
  const s3Gets = (at: number, gets: number): number => {
    const start = Math.max(at, s3BusyUntil);
    s3WaitS += start - at;
    s3BusyUntil = start + gets / p.s3GetsPerS;
    return s3BusyUntil - at;
  };
  const envsAllowed = (at: number): number => Math.min(p.functions, p.burst + Math.floor(at * p.refillPerS));
  while (done < nodes.length) {
    // Launch what can launch now.
    while (ready.length > 0 && running < p.functions) {
      let cold = false;
      if (idleWarm > 0) idleWarm--;
      else if (created < envsAllowed(t)) {
        created++;
        cold = true;
      } else break; // wait for an environment (scaling rate) or a finishing thunk
      const i = ready.shift()!;
      const n = nodes[i]!;
      const issued = Math.max(t, clientFreeAt);
      clientFreeAt = issued + 1 / p.clientInvokesPerS;
      let dur = issued - t + p.invokeS;
      if (cold)
        dur +=
          p.coldInitS +
          p.toolchainBytes / p.s3BytesPerS +
          s3Gets(t, p.toolchainObjects) +
          p.s3LatencyS * Math.ceil(p.toolchainObjects / 16);
      dur += s3Gets(t, n.gets) + p.s3LatencyS * Math.ceil(n.gets / 16) + n.durS + p.s3LatencyS; // inputs, run, output PUT
      busyS += dur;
      running++;
      events.push({ t: t + dur, node: i });
    }
    // Advance to the next completion (or the next environment the scaling rate allows).
    events.sort((a, b) => a.t - b.t);
    const next = events.shift();
    const nextEnv = created < p.functions ? (created + 1 - p.burst) / p.refillPerS : Infinity;
    if (!next) {
      t = Math.max(t, nextEnv);
      continue;
    }
    if (ready.length > 0 && running < p.functions && nextEnv < next.t && nextEnv > t) {
      events.unshift(next);
      t = nextEnv;
      continue;
    }
    t = next.t;
    running--;
    idleWarm++;
    done++;
    for (const d of nodes[next.node]!.dependants) if (--nodes[d]!.waiting === 0) ready.push(d);
  }
  const costUsd = busyS * p.memoryGb * p.priceGbS + nodes.length * p.priceRequest;
  return { functions: p.functions, wallS: t, criticalPathS, coldStarts: created, s3WaitS, costUsd, busyS };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = [100, 1000, 2000].map((functions) => simulate({ ...GIT, functions }));
  const noColdToolchain = [100, 1000, 2000].map((functions) =>
    simulate({ ...GIT, functions, toolchainBytes: 0, toolchainObjects: 0 }),
  );
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ rows, noColdToolchain }));
  } else {
    console.log('git (1,501 thunks; 211 s of thunk time measured on 2 cores), simulated on Lambda');
    console.log(
      '| functions | wall s | floor: critical path s | environments started | mean wait for the S3 request rate, ms/thunk | cost USD | wall s if the toolchain ships in the zip |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|---:|');
    rows.forEach((r, k) =>
      console.log(
        `| ${r.functions.toLocaleString('en')} | ${r.wallS.toFixed(1)} | ${r.criticalPathS.toFixed(1)} | ${r.coldStarts} | ${((r.s3WaitS / 1501) * 1000).toFixed(0)} | ${r.costUsd.toFixed(3)} | ${noColdToolchain[k]!.wallS.toFixed(1)} |`,
      ),
    );
  }
}
