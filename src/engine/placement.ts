/**
 * Data-aware placement, shared by the remote engines: send a thunk to the worker whose cache already holds
 * most of its input bytes. Workers advertise what they hold in every result they return (the inputs they
 * fetched for it and the outputs they made): the client keeps that belief per worker, with no extra traffic.
 * A belief can be stale (the worker evicted something): then the worker fetches it again, costing only bytes.
 */
export interface PlacementInput {
  name: string;
  size: number;
}

export interface PlacementOptions {
  /** Place only if the best worker holds at least this share of the input bytes (default 0.5). */
  minShare?: number;
  /** ... and at least this many bytes (default 64 KiB: below that, a download is cheaper than a wait). */
  minBytes?: number;
}

export class Placement {
  private readonly held = new Map<string, Set<string>>();
  private readonly minShare: number;
  private readonly minBytes: number;

  constructor(o: PlacementOptions = {}) {
    this.minShare = o.minShare ?? 0.5;
    this.minBytes = o.minBytes ?? 64 * 1024;
  }

  learn(worker: string, names: Iterable<string>): void {
    let set = this.held.get(worker);
    if (!set) this.held.set(worker, (set = new Set()));
    for (const n of names) set.add(n);
  }

  forget(worker: string): void {
    this.held.delete(worker);
  }

  /** Bytes of `inputs` that `worker` is believed to hold. */
  heldBytes(worker: string, inputs: readonly PlacementInput[]): number {
    const set = this.held.get(worker);
    if (!set) return 0;
    let b = 0;
    for (const i of inputs) if (set.has(i.name)) b += i.size;
    return b;
  }

  /** The candidate holding the most input bytes, if it holds enough to be worth waiting for; else undefined. */
  choose(inputs: readonly PlacementInput[], candidates: readonly string[]): string | undefined {
    const total = inputs.reduce((a, i) => a + i.size, 0);
    if (total < this.minBytes) return undefined;
    let best: string | undefined;
    let bestBytes = 0;
    for (const w of candidates) {
      const b = this.heldBytes(w, inputs);
      if (b > bestBytes) {
        best = w;
        bestBytes = b;
      }
    }
    if (best === undefined || bestBytes < this.minBytes || bestBytes < this.minShare * total) return undefined;
    return best;
  }
}
