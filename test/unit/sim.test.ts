/** The simulation's core (bench/sim-core.ts) and its two engine models on graphs whose answer is known. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { buildGraph, criticalPath, independent, simulate, type SimNode } from '../../bench/sim-core.js';
import { ClusterModel, type ClusterParams } from '../../bench/sim-cluster.js';
import { LAMBDA, LambdaModel } from '../../bench/sim-lambda.js';

// a -> (b, c) -> d with run times 1, 2, 3, 1
const diamond: SimNode[] = [
  { durS: 1, deps: [], gets: 0 },
  { durS: 2, deps: [0], gets: 0 },
  { durS: 3, deps: [0], gets: 0 },
  { durS: 1, deps: [1, 2], gets: 0 },
];
const free: Omit<ClusterParams, 'workers'> = {
  slotsPerWorker: 1,
  coordinatorS: 0,
  redisS: 0,
  redisShards: 1,
  rttS: 0,
  workerOverheadS: 0,
};
const near = (a: number, b: number, eps = 1e-9): void => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

it('a diamond with free dispatch takes its critical path on 2 workers and its total work on 1', () => {
  near(criticalPath(diamond), 5);
  near(simulate(diamond, (sim) => new ClusterModel(sim, { ...free, workers: 2 })).makespanS, 5);
  near(simulate(diamond, (sim) => new ClusterModel(sim, { ...free, workers: 1 })).makespanS, 7);
});

it('each hop of the cluster path adds its cost once on a chain', () => {
  const chain: SimNode[] = [
    { durS: 1, deps: [], gets: 0 },
    { durS: 1, deps: [0], gets: 0 },
  ];
  const p = { ...free, workers: 4, coordinatorS: 0.01, redisS: 0.003, rttS: 0.002, workerOverheadS: 0.005 };
  // per thunk: coordinator 0.01 + Redis 0.003 + 2.5 round trips of 0.002 + overhead 0.005 + run 1
  near(simulate(chain, (sim) => new ClusterModel(sim, p)).makespanS, 2 * (1 + 0.01 + 0.003 + 0.005 + 0.005));
});

it('the coordinator saturates: 1,000 empty thunks at 1 ms of coordinator each take 1 s on any number of workers', () => {
  const r = simulate(
    independent(1000, 0),
    (sim) => new ClusterModel(sim, { ...free, workers: 500, coordinatorS: 1e-3 }),
  );
  near(r.makespanS, 1, 1e-6);
  near(r.servers.find((s) => s.name === 'coordinator')!.utilisation, 1, 1e-6);
  // Sharding Redis does not help a coordinator-bound build; it does help a Redis-bound one.
  const redisBound = { ...free, workers: 500, redisS: 3e-3 };
  const one = simulate(independent(1000, 0), (sim) => new ClusterModel(sim, { ...redisBound, redisShards: 1 }));
  const four = simulate(independent(1000, 0), (sim) => new ClusterModel(sim, { ...redisBound, redisShards: 4 }));
  near(one.makespanS, 3, 1e-6);
  near(four.makespanS, 0.75, 1e-6);
});

it('a cold Lambda invocation pays the start, the toolchain and S3; a warm one does not', () => {
  const p = { ...LAMBDA, functions: 1 };
  const node: SimNode = { durS: 2, deps: [], gets: 3 };
  const warmPart = 3 / p.s3GetsPerS + p.s3LatencyS + 2 + p.s3LatencyS + p.invokeS;
  const cold =
    p.coldInitS + p.toolchainBytes / p.s3BytesPerS + (p.toolchainObjects / p.s3GetsPerS + p.s3LatencyS) + warmPart;
  let model: LambdaModel | undefined;
  const r = simulate([node, { ...node, deps: [0] }], (sim) => (model = new LambdaModel(sim, p)));
  near(r.makespanS, 2 / p.clientInvokesPerS + cold + warmPart);
  assert.equal(model!.environments, 1);
});

it('new Lambda environments start no faster than the scaling rate allows', () => {
  const p = {
    ...LAMBDA,
    functions: 50,
    burst: 10,
    refillPerS: 10,
    coldInitS: 0,
    toolchainBytes: 0,
    toolchainObjects: 0,
  };
  let model: LambdaModel | undefined;
  // 50 independent 10 s thunks: 10 start at once, then one more every 0.1 s; the last starts at 4 s.
  const r = simulate(independent(50, 10), (sim) => (model = new LambdaModel(sim, p)));
  assert.equal(model!.environments, 50);
  assert.ok(r.makespanS > 14 && r.makespanS < 14.5, String(r.makespanS));
});

it('the build shape is deterministic and has the thunks it says', () => {
  const shape = {
    sources: 10,
    archives: 2,
    links: 3,
    preprocessS: 0.1,
    compileMeanS: 1,
    assembleS: 0.1,
    archiveS: 1,
    linkS: 1,
    seed: 7,
  };
  const a = buildGraph(shape);
  assert.equal(a.length, 10 * 3 + 2 + 3);
  assert.deepEqual(a, buildGraph(shape));
  for (const [i, n] of a.entries()) for (const d of n.deps) assert.ok(d < i);
});
