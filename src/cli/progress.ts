/**
 * Progress for `gg force`: one live status line on a TTY (done/total, running, cached, failed, thunks/s),
 * plain lines when piped, nothing but the final JSON with --json. Honours NO_COLOR.
 */
import type { ForceEvent } from '../force/force.js';
import { shortName } from '../ir/name.js';
import type { UploadProgress } from '../store/upload.js';

export interface ProgressOptions {
  tty: boolean;
  quiet: boolean;
  verbose: boolean;
  stream: NodeJS.WriteStream;
  /** More for the status line (the engine's cost estimate). */
  extra?: () => string | undefined;
  /** Show what each executed thunk printed (a compiler's warnings), as make would; default: unless quiet. */
  logs?: boolean;
}

export class ProgressReporter {
  private discovered = 0;
  private running = 0;
  private executed = 0;
  private cached = 0;
  private failed = 0;
  private readonly start = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private lineShown = false;
  private readonly color: boolean;

  constructor(private readonly o: ProgressOptions) {
    this.color = o.tty && !process.env['NO_COLOR'];
    if (o.tty && !o.quiet) {
      this.timer = setInterval(() => this.render(), 100);
      this.timer.unref();
    }
  }

  readonly onEvent = (e: ForceEvent): void => {
    switch (e.type) {
      case 'discovered':
        this.discovered++;
        break;
      case 'cached':
        this.cached++;
        break;
      case 'started':
        this.running++;
        if (this.o.verbose) this.line(`start  ${shortName(e.name)} ${e.argv0}`);
        break;
      case 'finished':
        this.running--;
        this.executed++;
        if (this.o.verbose) this.line(`done   ${shortName(e.name)} ${e.argv0} ${e.wallMs.toFixed(0)} ms`);
        if (e.log.trim() && (this.o.logs ?? !this.o.quiet)) this.line(e.log.trimEnd());
        break;
      case 'failed':
        this.running = Math.max(0, this.running - 1);
        this.failed++;
        break;
      case 'cancelled':
        this.running = Math.max(0, this.running - 1);
        break;
      case 'retry':
        this.running = Math.max(0, this.running - 1);
        this.line(`retry  ${shortName(e.name)} (attempt ${e.attempt}): ${e.error.message}`);
        break;
    }
  };

  /** The bulk upload before forcing: a live line on a TTY, one line when it ends otherwise. */
  readonly onUpload = (p: UploadProgress): void => {
    if (this.o.quiet) return;
    const mb = (b: number): string => (b / 1024 / 1024).toFixed(1);
    const text =
      p.objectsChecked < p.objectsTotal
        ? `uploading: checked ${p.objectsChecked}/${p.objectsTotal} objects`
        : `uploading: ${p.objectsUploaded}/${p.objectsMissing} missing objects, ${mb(p.bytesUploaded)}/${mb(p.bytesMissing)} MiB (${p.objectsTotal - p.objectsMissing} already there)`;
    if (this.o.tty) {
      this.o.stream.write(`\r\x1b[2K${text}`);
      this.lineShown = true;
    } else if (p.objectsChecked === p.objectsTotal && p.objectsUploaded === p.objectsMissing) {
      this.line(text);
    }
  };

  private status(): string {
    const secs = (performance.now() - this.start) / 1000;
    const done = this.executed + this.cached + this.failed;
    const rate = secs > 0 ? (this.executed + this.cached) / secs : 0;
    const total = Math.max(done + this.running, this.discovered + this.cached);
    const failed = this.failed > 0 && this.color ? `\x1b[31mfailed ${this.failed}\x1b[0m` : `failed ${this.failed}`;
    const extra = this.o.extra?.();
    return `[${done}/${total}] running ${this.running}, executed ${this.executed}, cached ${this.cached}, ${failed}, ${rate.toFixed(0)} thunks/s${extra ? `, ${extra}` : ''}`;
  }

  private render(): void {
    this.o.stream.write(`\r\x1b[2K${this.status()}`);
    this.lineShown = true;
  }

  /** A message above the live line (or a plain line when piped). */
  line(text: string): void {
    if (this.lineShown) {
      this.o.stream.write('\r\x1b[2K');
      this.lineShown = false;
    }
    this.o.stream.write(text + '\n');
  }

  finish(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.lineShown) this.o.stream.write('\r\x1b[2K');
    this.lineShown = false;
    if (!this.o.quiet)
      this.o.stream.write(`gg: ${this.status()} in ${((performance.now() - this.start) / 1000).toFixed(2)} s\n`);
  }
}
