/**
 * An engine that runs a thunk once while it is in flight: a second `execute` of the same name joins the run
 * under way and gets its result. For a caller that forces overlapping graphs at once through separate
 * schedulers (gg infer's early forcing: a link, and meanwhile a compile it needs), which would otherwise run
 * that compile twice, on the same cores, and show its warnings twice.
 */
import type { Thunk } from '../ir/thunk.js';
import type { Engine, ExecuteOptions, ExecutionResult } from './engine.js';

/** How far a run in flight is: its joined callers' onStarted wait for it to start. */
interface Start {
  /** Set when the run starts, with the worker it started on (undefined when local). */
  started?: { worker: string | undefined };
  waiting: ((worker: string | undefined) => void)[];
}

export class SingleFlightEngine implements Engine {
  private readonly flights = new Map<string, { result: Promise<ExecutionResult>; start: Start }>();

  constructor(private readonly inner: Engine) {}

  get name(): string {
    return this.inner.name;
  }

  /**
   * A joining caller's `abort` is not passed on (the run is the first caller's); its `onStarted` is called when
   * the run starts, or at once if it has.
   */
  execute(name: string, thunk: Thunk, opts?: ExecuteOptions): Promise<ExecutionResult> {
    const joined = this.flights.get(name);
    if (joined) {
      if (opts?.onStarted) {
        if (joined.start.started) opts.onStarted(joined.start.started.worker);
        else joined.start.waiting.push(opts.onStarted);
      }
      return joined.result;
    }
    const start: Start = { waiting: opts?.onStarted ? [opts.onStarted] : [] };
    const result = this.inner
      .execute(name, thunk, {
        ...opts,
        onStarted: (worker) => {
          start.started = { worker };
          for (const f of start.waiting.splice(0)) f(worker);
        },
      })
      .finally(() => this.flights.delete(name));
    this.flights.set(name, { result, start });
    return result;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
