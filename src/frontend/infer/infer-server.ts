/**
 * The infer server: one per `gg infer` run, listening on a unix socket. Model clients send a tool's argv,
 * cwd and environment; the server answers with the model's result, or tells the client to exec the real
 * tool (queries, probes, anything not modelled). Before a real tool runs, placeholders among its inputs
 * are forced, so the real tool reads real files. A model that throws never fails the build: the real tool
 * runs and the reason is logged.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ArModel } from './ar-model.js';
import { BinutilsModel } from './binutils-model.js';
import { fastKey } from './fast-answer.js';
import { placeholderRef } from './file-declarer.js';
import type { ForceContext } from '../../force/force-command.js';
import { GccModel } from './gcc-model.js';
import { MesonModel } from './meson-model.js';
import { RunModel } from './run-model.js';
import { findOnPath } from './model-dir.js';
import { RunRealTool, type InferContext, type ModelAnswer, type ModelRequest } from './model.js';

/** Tools whose real program is a script that calls other modelled tools: PATH keeps the models. */
const WRAPPER_TOOLS = new Set(['c89', 'c99']);
const COMPILERS = new Set(['gcc', 'g++', 'cc', 'c++', 'clang', 'clang++']);
const BINUTILS = new Set(['as', 'ld', 'strip', 'objcopy']);
const RUNNER = 'gg-force-and-run';

export function parseRequest(buf: Buffer): ModelRequest {
  const parts = buf.toString('utf8').split('\0');
  if (parts[0] !== 'GGI1') throw new Error('bad request magic');
  const tool = parts[1]!;
  const cwd = parts[2]!;
  const argc = Number(parts[3]);
  const argv = parts.slice(4, 4 + argc);
  const envc = Number(parts[4 + argc]);
  const env: Record<string, string> = {};
  for (const e of parts.slice(5 + argc, 5 + argc + envc)) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return { tool, cwd, argv, env };
}

export function encodeExit(status: number, stdout: string | Buffer = '', stderr = ''): Buffer {
  const o = Buffer.from(stdout);
  const e = Buffer.from(stderr);
  return Buffer.concat([Buffer.from(`X ${status} ${o.length} ${e.length}\n`), o, e]);
}

/**
 * Forces placeholder files to their outputs in place, throwing when one fails: handed in by whoever wires
 * `gg infer` (the CLI opens a store and an engine on first use), so the front end never opens its own.
 */
export type ForcePlaceholders = (files: string[]) => Promise<void>;

export interface InferServerOptions {
  ctx: InferContext;
  /** Forces the placeholders among a real tool's inputs before it runs. */
  forcePlaceholders: ForcePlaceholders;
  logFile?: string;
  /**
   * Set when placeholders the build runs reach the server (the compiled model client is `gg-force-and-run`):
   * their runs become thunks (run-model.ts), forced on this context in this sandbox.
   */
  runs?: { sandbox: string; context: () => Promise<ForceContext> } | undefined;
}

export class InferServer {
  private server: net.Server | undefined;
  private readonly gcc: GccModel;
  private readonly ar: ArModel;
  private readonly binutils: BinutilsModel;
  private readonly runs: RunModel | undefined;
  private readonly meson: MesonModel;
  private readonly logLines: string[] = [];
  /** Work the models left for after their answers (InferContext.afterAnswer), and its run once scheduled. */
  private readonly deferred: (() => void)[] = [];
  private deferredRun: Promise<void> | undefined;

  constructor(private readonly o: InferServerOptions) {
    o.ctx.afterAnswer = (task) => this.deferred.push(task);
    this.gcc = new GccModel(o.ctx);
    this.ar = new ArModel(o.ctx);
    this.binutils = new BinutilsModel(o.ctx);
    this.runs = o.runs === undefined ? undefined : new RunModel(o.ctx, o.runs.context, o.runs.sandbox);
    this.meson = new MesonModel(o.ctx, this.runs, o.runs?.context);
  }

  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true }, (conn) => this.onConnection(conn));
      server.on('error', reject);
      server.listen(socketPath, () => resolve());
      this.server = server;
    });
  }

  private onConnection(conn: net.Socket): void {
    const chunks: Buffer[] = [];
    conn.on('data', (d: Buffer) => chunks.push(d));
    conn.on('error', () => {});
    conn.on('end', () => {
      void this.handle(Buffer.concat(chunks))
        .then(
          (answer) => conn.end(answer),
          (e: unknown) => conn.end(encodeExit(1, '', `gg infer: internal error: ${(e as Error).stack ?? String(e)}\n`)),
        )
        .finally(() => this.runDeferred());
    });
  }

  private async handle(buf: Buffer): Promise<Buffer> {
    const req = parseRequest(buf);
    let answer: ModelAnswer;
    try {
      answer = await this.dispatch(req);
    } catch (e) {
      answer =
        e instanceof RunRealTool
          ? { kind: 'real', reason: e.reason, ...(e.detail !== undefined ? { detail: e.detail } : {}) }
          : {
              kind: 'real',
              reason: 'a model error (a bug in gg: please report it)',
              detail: String((e as Error).stack ?? e),
            };
    }
    if (answer.kind === 'exit') {
      this.o.ctx.stats.modelled++;
      return encodeExit(answer.status, answer.stdout, answer.stderr);
    }
    this.o.ctx.stats.real++;
    const fb = this.o.ctx.stats.fallbacks;
    fb.set(answer.reason, (fb.get(answer.reason) ?? 0) + 1);
    this.record(
      `real ${req.tool}: ${answer.reason}${answer.detail !== undefined ? ` (${answer.detail})` : ''}: ${req.argv.join(' ').slice(0, 400)}`,
    );
    // A tool intercepted at its absolute path (intercept.ts) runs there, as it is; what it reads is read by
    // programs it runs, which are models themselves.
    if (req.tool.startsWith('/')) return Buffer.from('I\n');
    // A placeholder the build runs: forced into place (with its placeholder arguments), then run for real.
    const runner = req.tool === RUNNER;
    const realPath = runner ? req.argv[1] : findOnPath(req.tool, this.o.ctx.realPath);
    if (!realPath) return encodeExit(127, '', `gg infer: ${req.tool}: not found on the real PATH\n`);
    try {
      await this.forcePlaceholderInputs(req);
    } catch (e) {
      return encodeExit(1, '', `gg infer: could not force the inputs of ${req.tool}: ${(e as Error).message}\n`);
    }
    if (runner) return Buffer.from('A\n');
    return Buffer.from(`${answer.keepModelPath || WRAPPER_TOOLS.has(req.tool) ? 'P' : 'R'} ${realPath}\n`);
  }

  private async dispatch(req: ModelRequest): Promise<ModelAnswer> {
    if (req.tool.startsWith('/')) {
      if (path.basename(req.tool) === 'meson') return this.meson.run(req);
      return { kind: 'real', reason: `${req.tool} is not modelled` };
    }
    // the key of a compile's fast answer is the client's view of the request (a launcher included)
    if (this.o.ctx.fastDir !== undefined && (COMPILERS.has(req.tool) || req.tool === 'ccache'))
      req.fastKey = fastKey(req);
    if (COMPILERS.has(req.tool)) return this.gcc.run(req);
    // A compiler launcher (`ccache cc ...`, as Meson and CMake's *_COMPILER_LAUNCHER put it): the compile is
    // the compiler's, modelled as such; anything else (ccache's own options, a compiler by path) runs ccache.
    if (req.tool === 'ccache' && req.argv[1] !== undefined && COMPILERS.has(req.argv[1]))
      return this.gcc.run({ ...req, tool: req.argv[1], argv: req.argv.slice(1) });
    if (req.tool === 'ar') return this.ar.run(req);
    if (req.tool === 'ranlib') return this.ar.ranlib(req);
    if (BINUTILS.has(req.tool)) return this.binutils.run(req);
    if (req.tool === RUNNER) {
      if (!this.runs) return { kind: 'real', reason: 'a program run (not memoized by this caller of gg infer)' };
      const r = await this.runs.run(req);
      return { kind: 'exit', status: r.status, stdout: r.stdout, stderr: r.stderr };
    }
    return {
      kind: 'real',
      reason: `${req.tool} is not modelled`,
      ...(WRAPPER_TOOLS.has(req.tool) ? { keepModelPath: true } : {}),
    };
  }

  private record(line: string): void {
    this.logLines.push(line);
    this.o.ctx.log(line);
  }

  /** Placeholders the real tool would read (argv files and -l libraries in -L dirs) are forced first. */
  private async forcePlaceholderInputs(req: ModelRequest): Promise<void> {
    const files = new Set<string>();
    const libDirs: string[] = [];
    const args = req.argv.slice(1);
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === '-o') {
        i++;
        continue;
      }
      if (a.startsWith('-L') && a.length > 2) libDirs.push(path.resolve(req.cwd, a.slice(2)));
      if (a.startsWith('-')) continue;
      const p = path.resolve(req.cwd, a);
      if (placeholderRef(p) !== undefined) files.add(p);
    }
    for (const a of args) {
      if (!a.startsWith('-l') || a.length <= 2) continue;
      for (const d of libDirs) {
        for (const f of [`lib${a.slice(2)}.a`, `lib${a.slice(2)}.so`]) {
          const p = path.join(d, f);
          if (placeholderRef(p) !== undefined) files.add(p);
        }
      }
    }
    if (files.size === 0) return;
    await this.o.forcePlaceholders([...files]);
  }

  /** Runs the deferred work on the next turn of the event loop, once the answers just ended are on their way. */
  private runDeferred(): Promise<void> {
    this.deferredRun ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.deferredRun = undefined;
        for (const task of this.deferred.splice(0)) {
          try {
            task();
          } catch {
            // caches for a later run: losing an entry costs that run a slower answer
          }
        }
        resolve();
      }),
    );
    return this.deferredRun;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.runDeferred();
    if (this.o.logFile) {
      try {
        fs.writeFileSync(this.o.logFile, this.logLines.map((l) => `${l}\n`).join(''));
      } catch {
        // the log is a convenience
      }
    }
  }
}
