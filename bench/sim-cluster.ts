/**
 * The cluster engine (`gg force --engine cluster`, `gg worker`) as a model for the simulation core.
 *
 * A thunk's way, as the code does it (src/engine/cluster): the coordinator (`gg force`, one Node process,
 * one core) submits a BullMQ job -> Redis stores it -> a worker's blocking pop wakes, Redis hands it over
 * (lease, lock) -> the worker fetches inputs, runs, uploads, records the memo -> Redis completes the job and
 * queues the result message -> the coordinator reads it, records, and releases the dependants. The
 * coordinator and each Redis shard are FIFO single servers whose per-thunk CPU costs are measured by
 * bench/cluster.ts; the worker's own overhead and the network are delays (workers scale out): 2.5 round
 * trips per thunk (add: half; the worker's wake-up and its take-over command: one; completion and the
 * result message: half each).
 */
import { Server, type EngineModel, type SimNode, type Sim } from './sim-core.js';

export interface ClusterParams {
  workers: number;
  slotsPerWorker: number;
  /** Coordinator CPU per thunk (submit + result handling), seconds. */
  coordinatorS: number;
  /** Redis CPU per thunk over the whole job's life (add, hand-over, completion, result message), seconds. */
  redisS: number;
  /** Queues spread over this many Redis servers (Redis Cluster hash slots / one queue per shard). */
  redisShards: number;
  /** Network round trip between hosts, seconds. */
  rttS: number;
  /** A worker's own time per thunk beyond the program: fetch checks, upload, memo, reporting, seconds. */
  workerOverheadS: number;
}

export class ClusterModel implements EngineModel {
  readonly slots: number;
  private readonly coordinator: Server;
  private readonly shards: Server[];
  private next = 0;
  constructor(
    private readonly sim: Sim,
    private readonly p: ClusterParams,
  ) {
    this.slots = p.workers * p.slotsPerWorker;
    this.coordinator = new Server(sim, 'coordinator');
    this.shards = Array.from(
      { length: p.redisShards },
      (_, i) => new Server(sim, p.redisShards === 1 ? 'redis' : `redis shard ${i}`),
    );
  }

  start(node: SimNode, done: () => void): void {
    const { sim, p } = this;
    const shard = this.shards[this.next++ % this.shards.length]!;
    const third = p.redisS / 3;
    // submit (coordinator, then Redis) -> hand-over to a waiting worker -> run -> completion -> result read
    this.coordinator.request(p.coordinatorS / 2, () =>
      sim.after(p.rttS / 2, () =>
        shard.request(third, () =>
          sim.after(p.rttS, () =>
            shard.request(third, () =>
              sim.after(p.rttS / 2 + p.workerOverheadS + node.durS, () =>
                shard.request(third, () =>
                  sim.after(p.rttS / 2, () => this.coordinator.request(p.coordinatorS / 2, done)),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  servers(): Server[] {
    return [this.coordinator, ...this.shards];
  }
}
