/**
 * Gathers single-item calls made close together into batches: one round trip (and one client command) for many
 * small objects. A batch goes out as soon as it is full, so that the server starts on it while the caller is still
 * preparing (hashing) the next items, and otherwise at the end of the current tick.
 */
export interface TickBatcherOptions<T, R> {
  maxItems: number;
  /** Cap on the summed weight (e.g. bytes) of a batch. */
  maxWeight: number;
  weight: (item: T) => number;
  /** Answers in item order; a rejection fails every item of the batch. */
  run: (items: T[]) => Promise<R[]>;
}

interface Pending<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class TickBatcher<T, R> {
  private pending: Pending<T, R>[] = [];
  private weight = 0;
  private scheduled = false;

  constructor(private readonly opts: TickBatcherOptions<T, R>) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.weight += this.opts.weight(item);
      if (this.pending.length >= this.opts.maxItems || this.weight >= this.opts.maxWeight) {
        this.flush();
      } else if (!this.scheduled) {
        this.scheduled = true;
        process.nextTick(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.weight = 0;
    this.opts.run(batch.map((p) => p.item)).then(
      (results) => batch.forEach((p, i) => p.resolve(results[i] as R)),
      (e: unknown) => batch.forEach((p) => p.reject(e)),
    );
  }
}
