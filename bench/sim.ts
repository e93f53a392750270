/**
 * `npm run sim`: the discrete-event simulation of docs/SCALING.md, one engine model per back end over one
 * core (bench/sim-core.ts): the cluster engine (bench/sim-cluster.ts) and the Lambda engine
 * (bench/sim-lambda.ts). Deterministic: every run prints the same tables. `--json` prints the rows instead.
 *
 * The cluster model is calibrated with bench/cluster.ts (docs/BENCHMARKS.md, "Cluster engine"): per-thunk CPU
 * of the coordinator and of Redis, the workers' own overhead, measured on this 2-core VM.
 */
import { buildGraph, independent, simulate, type SimNode, type SimResult } from './sim-core.js';
import { ClusterModel, type ClusterParams } from './sim-cluster.js';
import { GIT_SHAPE, LAMBDA, LambdaModel, type LambdaParams } from './sim-lambda.js';

/**
 * Measured by `node dist/bench/cluster.js` (10,000 trivial thunks, 2 workers x 2 slots; docs/BENCHMARKS.md), in
 * its `-j 4` run: --jobs = the slots, so every job carries one thunk, as in every scenario below (the simulated
 * scheduler keeps workers x slots thunks in flight, and the engine batches only a deeper backlog).
 */
export const MEASURED = {
  coordinatorS: 1.012e-3,
  redisS: 0.571e-3,
  /**
   * Workers' fetch + upload + memo per trivial thunk (their own wall time, on the loaded 2-core VM; measured
   * before the memo claim carried the result message, which the bench can no longer time: kept, pessimistic).
   */
  workerOverheadS: 1.37e-3,
  /** The trivial thunk's own run (dash writing a line) on the workers, wall time on the loaded VM. */
  trivialRunS: 15.4e-3,
  /** `node dist/bench/lambda.js 40 4`: a warm invocation's overhead over the local engine (serverless-offline + s3rver). */
  lambdaInvokeS: 0.247,
};

export const CLUSTER: Omit<ClusterParams, 'workers'> = {
  slotsPerWorker: 1,
  coordinatorS: MEASURED.coordinatorS,
  redisS: MEASURED.redisS,
  redisShards: 1,
  rttS: 0.2e-3, // a LAN round trip (assumed)
  workerOverheadS: MEASURED.workerOverheadS,
};

/** A 10,000-thunk build: git's shape scaled to 3,320 sources (9,960 preprocess/compile/assemble thunks, 20 archives, 20 links). */
export const BUILD_10K = { ...GIT_SHAPE, sources: 3320, archives: 20, links: 20 };

export interface Variant {
  label: string;
  params: Partial<ClusterParams>;
}

/** What the design does past one coordinator and one Redis (docs/SCALING.md says which exist and which not). */
export const VARIANTS: Variant[] = [
  { label: 'as built: 1 coordinator, 1 Redis (measured costs, 1 thunk per job)', params: {} },
  { label: 'coordinator cut to 0.5 ms/thunk (not built)', params: { coordinatorS: 0.5e-3 } },
  { label: '+ queues sharded over 4 Redis (not built)', params: { coordinatorS: 0.5e-3, redisShards: 4 } },
];

export const WORKERS = [10, 100, 1000, 10000];
export const FUNCTIONS = [100, 1000, 2000];

export interface ClusterRow {
  variant: string;
  workers: number;
  r: SimResult;
}

export function runCluster(nodes: SimNode[], variant: Variant, workers: number): SimResult {
  return simulate(nodes, (sim) => new ClusterModel(sim, { ...CLUSTER, ...variant.params, workers }));
}

export interface LambdaRow {
  functions: number;
  r: SimResult;
  environments: number;
  costUsd: number;
}

export function runLambda(nodes: SimNode[], p: LambdaParams): LambdaRow {
  let model: LambdaModel | undefined;
  const r = simulate(nodes, (sim) => (model = new LambdaModel(sim, p)));
  return { functions: p.functions, r, environments: model!.environments, costUsd: model!.costUsd() };
}

const s1 = (n: number): string => n.toFixed(1);
const pct = (n: number): string => `${Math.round(n * 100)}%`;
const busiest = (r: SimResult): string => {
  const b = [...r.servers].sort((a, c) => c.utilisation - a.utilisation)[0]!;
  return `${b.name} ${pct(b.utilisation)}`;
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const json = process.argv.includes('--json');
  const build = buildGraph(BUILD_10K);
  const trivial = independent(10000, MEASURED.trivialRunS);
  const calib = simulate(trivial, (sim) => new ClusterModel(sim, { ...CLUSTER, workers: 2, slotsPerWorker: 2 }));
  const cluster: ClusterRow[] = VARIANTS.flatMap((v) =>
    WORKERS.map((workers) => ({ variant: v.label, workers, r: runCluster(build, v, workers) })),
  );
  // Throughput: 10,000 independent 1-second thunks; the rate levels off where one server saturates.
  const flat = independent(10000, 1);
  const throughput: ClusterRow[] = VARIANTS.flatMap((v) =>
    WORKERS.map((workers) => ({ variant: v.label, workers, r: runCluster(flat, v, workers) })),
  );
  const git = buildGraph(GIT_SHAPE);
  const lambda = FUNCTIONS.map((functions) => runLambda(git, { ...LAMBDA, functions }));
  const lambdaZip = FUNCTIONS.map((functions) =>
    runLambda(git, { ...LAMBDA, functions, toolchainBytes: 0, toolchainObjects: 0 }),
  );
  const lambdaSlow = FUNCTIONS.map((functions) =>
    runLambda(git, { ...LAMBDA, functions, invokeS: MEASURED.lambdaInvokeS }),
  );
  const lambda10k = WORKERS.map((functions) => runLambda(build, { ...LAMBDA, functions, burst: 1000 }));
  if (json) {
    console.log(JSON.stringify({ calib, throughput, cluster, lambda, lambdaZip, lambdaSlow, lambda10k }));
  } else {
    console.log(
      `Calibration check: 10,000 trivial thunks (${(MEASURED.trivialRunS * 1000).toFixed(1)} ms each) on 2 workers x 2 slots: ${s1(calib.makespanS)} s simulated (${Math.round(10000 / calib.makespanS)} thunks/s; bench/cluster.ts measures the real one), busiest: ${busiest(calib)}`,
    );
    console.log('\nCluster: 10,000 independent 1-second thunks, 1 slot per worker (thunks/s)');
    console.log(
      `| design | ${WORKERS.map((w) => `${w.toLocaleString('en')} workers`).join(' | ')} | busiest server at 10,000 |`,
    );
    console.log(`|---|${WORKERS.map(() => '---:').join('|')}|---|`);
    for (const v of VARIANTS) {
      const rows = throughput.filter((c) => c.variant === v.label);
      console.log(
        `| ${v.label} | ${rows.map((c) => Math.round(c.r.thunks / c.r.makespanS).toLocaleString('en')).join(' | ')} | ${busiest(rows.at(-1)!.r)} |`,
      );
    }
    const crit = cluster[0]!.r.criticalPathS;
    const work = cluster[0]!.r.workS;
    console.log(
      `\nCluster: a 10,000-thunk build (git's shape x 7: ${work.toFixed(0)} s of thunk time, critical path ${s1(crit)} s), 1 slot per worker`,
    );
    console.log('| design | workers | build s | speed-up over 10 workers | busiest server |');
    console.log('|---|---:|---:|---:|---|');
    for (const v of VARIANTS) {
      const rows = cluster.filter((c) => c.variant === v.label);
      for (const c of rows)
        console.log(
          `| ${v.label} | ${c.workers.toLocaleString('en')} | ${s1(c.r.makespanS)} | ${(rows[0]!.r.makespanS / c.r.makespanS).toFixed(1)}x | ${busiest(c.r)} |`,
        );
    }
    console.log(
      `\nLambda: git (${git.length.toLocaleString('en')} thunks, ${lambda[0]!.r.workS.toFixed(0)} s of thunk time, critical path ${s1(lambda[0]!.r.criticalPathS)} s)`,
    );
    console.log(
      `| functions | build s | environments started | S3 queue wait ms/request | cost USD | build s if the toolchain ships in the zip | build s at the ${MEASURED.lambdaInvokeS * 1000} ms per invocation measured against serverless-offline |`,
    );
    console.log('|---:|---:|---:|---:|---:|---:|---:|');
    lambda.forEach((l, k) => {
      const s3 = l.r.servers.find((s) => s.name.startsWith('S3'))!;
      console.log(
        `| ${l.functions.toLocaleString('en')} | ${s1(l.r.makespanS)} | ${l.environments} | ${s3.meanWaitMs.toFixed(0)} | ${l.costUsd.toFixed(3)} | ${s1(lambdaZip[k]!.r.makespanS)} | ${s1(lambdaSlow[k]!.r.makespanS)} |`,
      );
    });
    console.log(`\nLambda: the same 10,000-thunk build`);
    console.log('| functions | build s | environments started | busiest server | cost USD |');
    console.log('|---:|---:|---:|---|---:|');
    for (const l of lambda10k)
      console.log(
        `| ${l.functions.toLocaleString('en')} | ${s1(l.r.makespanS)} | ${l.environments} | ${busiest(l.r)} | ${l.costUsd.toFixed(2)} |`,
      );
  }
}
