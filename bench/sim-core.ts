/**
 * The core of gg-ts's discrete-event simulation (`npm run sim`, docs/SCALING.md): a build graph, the
 * scheduler of `gg force` (a thunk runs once its dependencies are done, at most `slots` at once, ready ones
 * in FIFO order), and FIFO single servers for whatever has one CPU or one rate (the coordinator, a Redis
 * shard, an S3 prefix's request rate). Each back end is one EngineModel (bench/sim-cluster.ts,
 * bench/sim-lambda.ts) that turns "run this thunk" into a sequence of server requests and delays.
 */

export interface SimNode {
  /** The thunk's own run time on one core, seconds. */
  durS: number;
  /** Indices of the nodes it depends on (always lower than its own: the graph is built in order). */
  deps: number[];
  /** Objects it fetches besides a toolchain (sources, objects, archives); engines that fetch use it. */
  gets: number;
}

/** A min-heap of timed events; equal times run in the order they were scheduled (deterministic). */
class EventHeap {
  private readonly h: { t: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  get size(): number {
    return this.h.length;
  }
  push(t: number, fn: () => void): void {
    const h = this.h;
    h.push({ t, seq: this.seq++, fn });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): { t: number; fn: () => void } | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(l, m)) m = l;
        if (r < h.length && this.less(r, m)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
  private less(a: number, b: number): boolean {
    const x = this.h[a]!;
    const y = this.h[b]!;
    return x.t < y.t || (x.t === y.t && x.seq < y.seq);
  }
}

export class Sim {
  now = 0;
  private readonly events = new EventHeap();
  /** Run `fn` after `delayS` seconds of simulated time. */
  after(delayS: number, fn: () => void): void {
    this.events.push(this.now + Math.max(0, delayS), fn);
  }
  run(): void {
    for (let e = this.events.pop(); e; e = this.events.pop()) {
      this.now = e.t;
      e.fn();
    }
  }
}

/** One FIFO server: a single-threaded process (coordinator, Redis) or a request rate (cost = 1 / rate). */
export class Server {
  busyS = 0;
  waitS = 0;
  served = 0;
  private busy = false;
  private readonly queue: { cost: number; then: () => void; since: number }[] = [];
  constructor(
    private readonly sim: Sim,
    readonly name: string,
  ) {}
  request(costS: number, then: () => void): void {
    if (this.busy) this.queue.push({ cost: costS, then, since: this.sim.now });
    else this.serve(costS, then);
  }
  private serve(costS: number, then: () => void): void {
    this.busy = true;
    this.sim.after(costS, () => {
      this.busyS += costS;
      this.served++;
      this.busy = false;
      const next = this.queue.shift();
      if (next) {
        this.waitS += this.sim.now - next.since;
        this.serve(next.cost, next.then);
      }
      then();
    });
  }
  /** Busy fraction over `spanS` seconds. */
  utilisation(spanS: number): number {
    return spanS > 0 ? this.busyS / spanS : 0;
  }
}

/** A back end: how one thunk goes from "ready" to "its result is known to the scheduler". */
export interface EngineModel {
  /** Thunks in flight at most (`gg force --jobs`: workers x slots, or functions). */
  readonly slots: number;
  start(node: SimNode, done: () => void): void;
  /** Servers to report (utilisation tells which one saturates). */
  servers(): Server[];
}

export interface SimResult {
  makespanS: number;
  /** The graph's critical path with no overhead at all: no engine goes below it. */
  criticalPathS: number;
  /** Sum of the thunks' own run times. */
  workS: number;
  thunks: number;
  servers: { name: string; utilisation: number; meanWaitMs: number }[];
}

export function criticalPath(nodes: readonly SimNode[]): number {
  const longest = new Float64Array(nodes.length);
  let best = 0;
  nodes.forEach((n, i) => {
    let m = 0;
    for (const d of n.deps) m = Math.max(m, longest[d]!);
    longest[i] = m + n.durS;
    best = Math.max(best, m + n.durS);
  });
  return best;
}

/** Force the whole graph through one engine model; `makeEngine` receives the simulation clock. */
export function simulate(nodes: readonly SimNode[], makeEngine: (sim: Sim) => EngineModel): SimResult {
  const sim = new Sim();
  const engine = makeEngine(sim);
  const waiting = nodes.map((n) => n.deps.length);
  const dependants: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => n.deps.forEach((d) => dependants[d]!.push(i)));
  const ready: number[] = [];
  let head = 0;
  let running = 0;
  let done = 0;
  const launch = (): void => {
    while (head < ready.length && running < engine.slots) {
      const i = ready[head++]!;
      running++;
      engine.start(nodes[i]!, () => {
        running--;
        done++;
        for (const d of dependants[i]!) if (--waiting[d]! === 0) ready.push(d);
        launch();
      });
    }
  };
  nodes.forEach((_, i) => {
    if (waiting[i] === 0) ready.push(i);
  });
  launch();
  sim.run();
  if (done !== nodes.length) throw new Error(`simulation stalled: ${done} of ${nodes.length} thunks done`);
  const makespanS = sim.now;
  return {
    makespanS,
    criticalPathS: criticalPath(nodes),
    workS: nodes.reduce((s, n) => s + n.durS, 0),
    thunks: nodes.length,
    servers: engine.servers().map((s) => ({
      name: s.name,
      utilisation: s.utilisation(makespanS),
      meanWaitMs: s.served > 0 ? (s.waitS / s.served) * 1000 : 0,
    })),
  };
}

/** A deterministic generator (LCG), so every run of the simulation prints the same numbers. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export interface BuildShape {
  /** Source files: each one preprocess, one compile and one assemble thunk (as `gg infer` models gcc -c). */
  sources: number;
  archives: number;
  links: number;
  /** Compile times are lognormal (sigma 0.9) with this mean: a few big files dominate the critical path. */
  compileMeanS: number;
  preprocessS: number;
  assembleS: number;
  archiveS: number;
  linkS: number;
  seed: number;
}

/**
 * A C build's shape (git's, read from its Makefile, scaled by `sources`): per source a preprocess, a
 * compile and an assemble; archives over 70% of the objects; links over every archive plus objects of their own; the first
 * link (the main program) takes the remaining 30% and runs twice as long.
 */
export function buildGraph(p: BuildShape): SimNode[] {
  const rand = rng(p.seed);
  const sigma = 0.9;
  const mu = Math.log(p.compileMeanS) - (sigma * sigma) / 2;
  const normal = (): number => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const nodes: SimNode[] = [];
  const add = (durS: number, deps: number[], gets: number): number => nodes.push({ durS, deps, gets }) - 1;
  const objects: number[] = [];
  for (let i = 0; i < p.sources; i++) {
    const pre = add(p.preprocessS, [], 2);
    const c = add(Math.exp(mu + sigma * normal()), [pre], 1);
    objects.push(add(p.assembleS, [c], 1));
  }
  const mainShare = Math.floor(p.sources * 0.3);
  const libObjects = objects.slice(mainShare);
  const archives: number[] = [];
  for (let a = 0; a < p.archives; a++) {
    const part = libObjects.filter((_, i) => i % p.archives === a);
    archives.push(add(p.archiveS, part, part.length));
  }
  for (let l = 0; l < p.links; l++) {
    const own = l === 0 ? objects.slice(0, mainShare) : [objects[l % Math.max(1, mainShare)]!];
    add(l === 0 ? p.linkS * 2 : p.linkS, [...archives, ...own], archives.length + own.length);
  }
  return nodes;
}

/** `count` independent thunks of `durS` each (the cluster bench's trivial thunks). */
export function independent(count: number, durS: number): SimNode[] {
  return Array.from({ length: count }, () => ({ durS, deps: [], gets: 1 }));
}
