/**
 * The CLI's stdout and stderr, written with `fs.writeSync` when that is the same as Node's streams. Why: Node
 * creates `process.stderr` (or `process.stdout`) on first use, and that loads modules outside its start-up
 * snapshot: a file's SyncWriteStream and the stream modules, a pipe's whole `net` (~40-50 M instructions,
 * more than a memoized force's own work; bench/memo-instructions.sh).
 * - A regular file, pipe or socket: Node's stream writes it synchronously too (docs: "process I/O"), so
 *   `writeSync` puts the same bytes in the same order. If a write fails (EAGAIN on a pipe another process made
 *   non-blocking, EPIPE, ...), the rest and every later write go to Node's stream, which handles it as before.
 * - /dev/null (`2>/dev/null`): direct too; it is no terminal, and writes to it succeed.
 * - Any other character device (a terminal): Node's stream, as before; telling a terminal apart without it would
 *   load `tty` (and `net`) anyway, and a terminal needs the stream for its columns.
 * - Nothing open on the descriptor: Node's stream, as before.
 */
import { fstatSync, statSync, writeSync } from 'node:fs';

/** Where text goes: process.stderr, process.stdout or a test's capture. */
export interface TextSink {
  write(text: string): unknown;
  readonly columns?: number | undefined;
}

class StdioSink implements TextSink {
  /** Written with writeSync; undefined until first asked. */
  private direct: boolean | undefined;

  constructor(
    private readonly fd: 1 | 2,
    private readonly stream: () => NodeJS.WriteStream,
  ) {}

  private useDirect(): boolean {
    if (this.direct === undefined) {
      try {
        const st = fstatSync(this.fd);
        this.direct = !st.isCharacterDevice() || st.rdev === statSync('/dev/null').rdev;
      } catch {
        this.direct = false;
      }
    }
    return this.direct;
  }

  /** Whether it is a terminal, as `process.stdout/stderr.isTTY` says (only a character device can be one). */
  get isTTY(): boolean {
    return !this.useDirect() && this.stream().isTTY === true;
  }

  get columns(): number | undefined {
    return this.useDirect() ? undefined : this.stream().columns;
  }

  write(text: string): true {
    if (!this.useDirect()) {
      this.stream().write(text);
      return true;
    }
    const bytes = Buffer.from(text);
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(this.fd, bytes, done);
    } catch {
      this.direct = false;
      this.stream().write(bytes.subarray(done));
    }
    return true;
  }
}

export const stdout = new StdioSink(1, () => process.stdout);
export const stderr = new StdioSink(2, () => process.stderr);
