/**
 * What every command that forces (force, map, test gtest) shows and handles while it runs: the progress on
 * stderr, Ctrl-C, and the runtime's notes once it is closed. One place, so the three behave alike.
 */
import type { JobTrace } from '../force/job-trace.js';
import type { Runtime } from '../runtime.js';
import { ProgressReporter } from './progress.js';
import { stderr } from './stdio.js';

export interface ForceUiOptions {
  /** The status line (`--no-status` turns it off). */
  status: boolean;
  verbose?: boolean | undefined;
  /** Machine output (JSON) on stdout: no progress on stderr. */
  machine?: boolean;
  /** Show what each executed thunk printed; default: when progress shows. */
  logs?: boolean;
}

export interface ForceUi {
  progress: ProgressReporter;
  interrupt: InterruptHandler;
}

export function startForceUi(o: ForceUiOptions): ForceUi {
  const progress = new ProgressReporter({
    tty: stderr.isTTY && o.status,
    quiet: o.machine === true || !o.status,
    verbose: o.verbose === true,
    stream: stderr,
    ...(o.logs !== undefined ? { logs: o.logs } : {}),
  });
  return { progress, interrupt: new InterruptHandler(progress) };
}

/** Say what the user should know about the run's isolation and storage (unless stdout is for machines), then close. */
export async function closeRuntime(rt: Runtime, o: { notes: boolean }): Promise<void> {
  if (o.notes) for (const n of rt.notices()) stderr.write(`gg: note: ${n}\n`);
  await rt.close();
}

/**
 * Ctrl-C (or SIGTERM) during a force: the first stops the job cleanly (running thunks killed, finished results
 * kept, the trace closed, a message); a second quits at once, after closing the trace. Either way nothing is
 * half-written: every object, memo entry and placeholder is written to a temporary name and renamed.
 */
export class InterruptHandler {
  private readonly ac = new AbortController();
  readonly signal = this.ac.signal;
  trace: JobTrace | undefined;
  private readonly handler = (sig: NodeJS.Signals): void => {
    if (!this.ac.signal.aborted) {
      this.progress.line(
        `gg: ${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping the running thunks (press Ctrl-C again to quit at once)`,
      );
      this.ac.abort();
      return;
    }
    this.trace?.close('interrupted', 'quit at once by a second interrupt');
    stderr.write(
      `\ngg: quit at once; finished results are kept in the memo, run the same command again to resume${this.trace ? ` (trace: ${this.trace.file})` : ''}\n`,
    );
    process.exit(130);
  };

  constructor(private readonly progress: ProgressReporter) {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }

  done(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}
