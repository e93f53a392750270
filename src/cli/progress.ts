/**
 * Progress for `gg force`. On a terminal: a live block (a bar with done/total, rate and ETA; bytes moved and,
 * for engines that bill, cost; the slowest few thunks running now), redrawn 10 times a second. Piped: one line
 * per thunk run, failed or stopped (starts and memo hits too with --verbose). With --json or --json-events: nothing here (machines read stdout). Honours NO_COLOR.
 */
import { monotonicMs } from '../force/clock.js';
import type { ForceEvent } from '../force/force.js';
import { shortName } from '../ir/name.js';
import type { UploadProgress } from '../store/upload.js';
import type { TextSink } from './stdio.js';

export interface ProgressOptions {
  tty: boolean;
  quiet: boolean;
  verbose: boolean;
  stream: TextSink;
  /** Show what each executed thunk printed (a compiler's warnings), as make would; default: unless quiet. */
  logs?: boolean;
  /** Running thunks listed under the bar (the longest-running first). */
  slowest?: number;
}

interface Running {
  argv0: string;
  since: number;
}

export class ProgressReporter {
  private readonly discovered = new Set<string>();
  private readonly running = new Map<string, Running>();
  private executed = 0;
  private cached = 0;
  /** Memo hits on references never loaded (an early cutoff's thunk was discovered, so it is counted there). */
  private cachedUndiscovered = 0;
  private failed = 0;
  /** Thunks stopped by Ctrl-C or --fail-fast while running. */
  cancelled = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private costUsd = 0;
  private billed = false;
  private readonly start = monotonicMs();
  private timer: NodeJS.Timeout | undefined;
  private shownLines = 0;
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
        this.discovered.add(e.name);
        return;
      case 'queued':
        return;
      case 'speculated':
        this.event(`duplicate ${shortName(e.name)} ${e.argv0} (straggler${e.straggler ? ` on ${e.straggler}` : ''})`);
        return;
      case 'cached':
        this.cached++;
        if (e.how === 'memo') this.cachedUndiscovered++;
        // The line is built only when shown: a memoized force has one per target.
        if (this.shows('verbose'))
          this.event(`cached   ${shortName(e.ref)}${e.how === 'cutoff' ? ' (early cutoff)' : ''}`, 'verbose');
        return;
      case 'started':
        this.running.set(e.name, { argv0: e.argv0, since: monotonicMs() });
        this.bytesIn += e.bytesIn;
        this.event(`started  ${shortName(e.name)} ${e.argv0}${e.host === 'local' ? '' : ` on ${e.host}`}`, 'verbose');
        return;
      case 'finished':
        this.running.delete(e.name);
        this.executed++;
        this.bytesOut += e.bytesOut;
        if (e.costUsd !== undefined) {
          this.billed = true;
          this.costUsd += e.costUsd;
        }
        this.event(`finished ${shortName(e.name)} ${e.argv0} ${e.wallMs.toFixed(0)} ms`);
        if (e.log.trim() && (this.o.logs ?? !this.o.quiet)) this.line(e.log.replace(/\n+$/, '')); // as printed: trailing spaces kept
        return;
      case 'failed':
        this.running.delete(e.name);
        this.failed++;
        this.event(`failed   ${shortName(e.name)} ${e.error.code}`);
        return;
      case 'cancelled':
        if (this.running.delete(e.name)) this.cancelled++;
        this.event(`stopped  ${shortName(e.name)}`);
        return;
      case 'retry':
        this.running.delete(e.name);
        this.line(`retry    ${shortName(e.name)} (attempt ${e.attempt}): ${e.error.message}`);
        return;
    }
  };

  /**
   * A thunk's life as one line, with --verbose on a terminal. Piped, as make prints what it runs: what ran,
   * failed or stopped; starts and memo hits only with --verbose (a memoized build of 2,000 thunks would
   * otherwise print 2,000 lines, and writing them costs more than the memo lookups).
   */
  /** Whether an event line of this level is printed. */
  private shows(level: 'always' | 'verbose'): boolean {
    return !this.o.quiet && (this.o.verbose || (!this.o.tty && level === 'always'));
  }

  private event(text: string, level: 'always' | 'verbose' = 'always'): void {
    if (this.shows(level)) this.line(`gg: [${this.done()}/${this.total()}] ${text}`);
  }

  /** The bulk upload before forcing: a live line on a TTY, one line when it ends otherwise. */
  readonly onUpload = (p: UploadProgress): void => {
    if (this.o.quiet) return;
    const text =
      p.objectsChecked < p.objectsTotal
        ? `uploading: checked ${p.objectsChecked}/${p.objectsTotal} objects`
        : `uploading: ${p.objectsUploaded}/${p.objectsMissing} missing objects, ${formatBytes(p.bytesUploaded)}/${formatBytes(p.bytesMissing)} (${p.objectsTotal - p.objectsMissing} already there)`;
    if (this.o.tty) this.draw([text]);
    else if (p.objectsChecked === p.objectsTotal && p.objectsUploaded === p.objectsMissing) this.line(text);
  };

  private done(): number {
    return this.executed + this.cached + this.failed;
  }

  /** Known so far: the graph is discovered as it is forced, so the total grows until the end. */
  private total(): number {
    return Math.max(this.done() + this.running.size, this.discovered.size + this.cachedUndiscovered);
  }

  private summary(): string {
    const failed = this.failed > 0 && this.color ? `\x1b[31mfailed ${this.failed}\x1b[0m` : `failed ${this.failed}`;
    return `executed ${this.executed}, cached ${this.cached}, ${failed}`;
  }

  /** The live block: bar line, traffic line, then the longest-running thunks. */
  /** `now`: monotonicMs()'s clock. */
  statusLines(now = monotonicMs()): string[] {
    const secs = (now - this.start) / 1000;
    const done = this.done();
    const total = this.total();
    const rate = secs > 0 ? done / secs : 0;
    const left = total - done;
    const eta = rate > 0 && left > 0 && this.executed > 0 ? ` ETA ${formatSeconds(left / rate)}` : '';
    const width = 24;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const lines = [
      `${bar} ${done}/${total}  running ${this.running.size}, ${this.summary()}  ${rate.toFixed(1)}/s${eta}`,
      `moved ${formatBytes(this.bytesIn)} in, ${formatBytes(this.bytesOut)} out${this.billed ? `, cost $${this.costUsd.toFixed(4)}` : ''}`,
    ];
    const slowest = [...this.running.entries()].sort((a, b) => a[1].since - b[1].since).slice(0, this.o.slowest ?? 3);
    for (const [name, r] of slowest)
      lines.push(`  ${formatSeconds((now - r.since) / 1000).padStart(6)}  ${r.argv0} ${shortName(name)}`);
    return lines;
  }

  private render(): void {
    this.draw(this.statusLines());
  }

  private draw(lines: string[]): void {
    const cols = this.o.stream.columns ?? 120;
    this.clear();
    this.o.stream.write(lines.map((l) => (l.length > cols - 1 ? l.slice(0, cols - 1) : l)).join('\n'));
    this.shownLines = lines.length;
  }

  private clear(): void {
    if (this.shownLines === 0) return;
    this.o.stream.write('\r\x1b[2K' + '\x1b[1A\x1b[2K'.repeat(this.shownLines - 1));
    this.shownLines = 0;
  }

  /** A message above the live block (or a plain line when piped). */
  line(text: string): void {
    this.clear();
    this.o.stream.write(text + '\n');
  }

  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.clear();
    if (!this.o.quiet) {
      const secs = (monotonicMs() - this.start) / 1000;
      const moved =
        this.bytesIn + this.bytesOut > 0
          ? `, moved ${formatBytes(this.bytesIn)} in / ${formatBytes(this.bytesOut)} out`
          : '';
      const cost = this.billed ? `, cost $${this.costUsd.toFixed(4)}` : '';
      this.o.stream.write(
        `gg: [${this.done()}/${this.total()}] ${this.summary()} in ${secs.toFixed(2)} s${moved}${cost}\n`,
      );
    }
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60)
    return `${m}m${Math.round(s % 60)
      .toString()
      .padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${(m % 60).toString().padStart(2, '0')}m`;
}
