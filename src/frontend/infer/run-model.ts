/**
 * Runs of programs the build itself linked (generators: fribidi's table generators, bc's fbc) as thunks.
 * Such a program is a placeholder whose `#!/usr/bin/env gg-force-and-run` reaches the server through the
 * model client. The run becomes a thunk: the program (the link's output) with its shared-library closure,
 * every argument that names an existing file, `/bin/sh` to capture standard output; so an unchanged
 * rebuild answers the run from the memo instead of running the generator again.
 *
 * Only what the jail can check is memoized: the thunk runs in bubblewrap, where only declared files exist
 * (a program that reads anything else fails there, and then runs for real), it must exit 0, and a listing
 * of the jail's working directory taken after the run must show no file it wrote besides standard output
 * (a program writing files runs for real). Standard input must be /dev/null or closed (as under ninja, or
 * make's `<  /dev/null`), or a file the run reads from its start (`prog < table.in`: declared as an input).
 * Anything else runs the real program, as before.
 */
import fs from 'node:fs';
import path from 'node:path';
import { forceRefs, showThunkLogs, type ForceContext } from '../../force/force-command.js';
import { isThunkName, joinTag, splitTag } from '../../ir/name.js';
import { decodeThunk, type Thunk, type ThunkInput } from '../../ir/thunk.js';
import { cachedClosure, closureInputs } from './toolchain.js';
import { placeholderRef } from './file-declarer.js';
import { knownResult } from './known-outputs.js';
import { real, type InferContext, type ModelRequest } from './model.js';

const STDOUT = 'gg-run.stdout';
const LISTING = 'gg-run.files';
const UTF8_CTYPE = '/usr/lib/locale/C.utf8/LC_CTYPE';
/** The build's variables that change from run to run (jobserver, model socket) or that the thunk sets. */
const DROPPED_ENV =
  /^(GG_.*|MAKEFLAGS|MFLAGS|MAKELEVEL|MAKEOVERRIDES|MAKE_TERMOUT|MAKE_TERMERR|PWD|OLDPWD|SHLVL|_|PATH|TMPDIR|LANG|LANGUAGE|LC_.*)$/;

/**
 * Runs the program's argv under sh, stdout into STDOUT (in the start directory), then lists every file and
 * symbolic link left in the working directory (`$1` leads from the start directory to it) into LISTING.
 * With `stdin`, the program reads the file `$2` (then its argv follows) as its standard input.
 */
function script(stdin: boolean): string {
  return [
    stdin ? `up=$1; in=$2; shift 2; "$@" < "$in" > ${STDOUT} || exit` : `up=$1; shift; "$@" > ${STDOUT} || exit`,
    `here=$(pwd); cd "./$up" || exit`,
    `w() { for f in "$1"/* "$1"/.[!.]* "$1"/..?*; do if [ -L "$f" ] || [ -f "$f" ]; then printf '%s\\n' "$f"; elif [ -d "$f" ]; then w "$f"; fi; done; }`,
    `w . > "$here/${LISTING}"`,
  ].join('\n');
}

/**
 * The file a run reads as its standard input (the client's GG_INFER_STDIN=file:DEV:INO:PATH), when PATH is still
 * that file; undefined for no input (/dev/null, closed). Anything else (a pipe, a terminal, a file read from
 * elsewhere than its start, or replaced since) runs the real program.
 */
function stdinFile(stdin: string | undefined): string | undefined {
  if (stdin === 'null' || stdin === 'closed') return undefined;
  const m = stdin === undefined ? null : /^file:(\d+):(\d+):(\/.*)$/s.exec(stdin);
  if (m === null) real('a program run that may read its standard input');
  const st = fs.statSync(m[3]!, { throwIfNoEntry: false, bigint: true });
  if (!st?.isFile() || st.dev !== BigInt(m[1]!) || st.ino !== BigInt(m[2]!))
    real('a program run whose standard input is not the file it names', m[3]);
  return m[3]!;
}

export interface RunAnswer {
  status: number;
  stdout: Buffer;
  /** What the run printed on standard error (the caller shows it where the program's own would appear). */
  stderr: string;
}

export class RunModel {
  /** Library closures of forced programs, by content name. */
  private readonly closures = new Map<string, ThunkInput[]>();
  private sh: { name: string; inputs: ThunkInput[] } | undefined;
  private get inferDir(): string {
    return path.join(this.ctx.store.cacheDir, 'infer');
  }

  constructor(
    private readonly ctx: InferContext,
    private readonly context: () => Promise<ForceContext>,
    private readonly sandbox: string,
  ) {}

  async run(req: ModelRequest): Promise<RunAnswer> {
    if (this.sandbox !== 'bwrap') real('a program run (memoized only in the bubblewrap jail)');
    const stdin = stdinFile(req.env['GG_INFER_STDIN']);
    if (req.env['LD_LIBRARY_PATH'] || req.env['LD_PRELOAD']) real('a program run with LD_LIBRARY_PATH or LD_PRELOAD');
    const given = req.argv[1];
    if (given === undefined) real('gg-force-and-run without a program');
    const prog = path.resolve(req.cwd, given);
    const link = placeholderRef(prog);
    if (link === undefined) real('a program run of a file that is not a placeholder', given);
    if (
      !isThunkName(splitTag(link).name) ||
      usesProjectLibrary(
        decodeThunk(this.ctx.store.getSync(splitTag(link).name)),
        (f) => this.ctx.declarer.underRoot(f) !== undefined,
      )
    )
      real('a program run of a program linked with a library of the project', given);
    const cwdRel = this.ctx.declarer.cwdFor(req.cwd);
    const progRel = this.ctx.declarer.underRoot(prog);
    if (progRel === undefined) real('a program run of a placeholder outside the root', given);

    const values: ThunkInput[] = [];
    const thunks: ThunkInput[] = [];
    for (const a of req.argv.slice(2)) {
      if (a === '' || a.includes('\0')) continue;
      const st = fs.statSync(path.resolve(req.cwd, a), { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (!st.isFile()) real('a program run with a directory or device argument', a);
      const d = this.ctx.declarer.declare(a, req.cwd);
      (d.kind === 'thunk' ? thunks : values).push(d.input);
    }
    // A file it reads as standard input is declared as an argument naming it would be (one in the project by
    // its relative name: the jail has the project elsewhere), and handed to the script by that name.
    const stdinArg: string[] = [];
    if (stdin !== undefined) {
      const named = this.ctx.declarer.underRoot(stdin) === undefined ? stdin : path.relative(req.cwd, stdin);
      const d = this.ctx.declarer.declare(named, req.cwd);
      (d.kind === 'thunk' ? thunks : values).push(d.input);
      stdinArg.push(named);
    }
    const relNames = new Set([...values, ...thunks].map((i) => i.filename!).filter((f) => !path.isAbsolute(f)));
    if (relNames.has(path.join(cwdRel, STDOUT)) || relNames.has(path.join(cwdRel, LISTING)))
      real('a program run whose argument has the name of gg’s output', STDOUT);

    const program = await this.forcedProgram(link);
    const sh = this.shell();
    const env = [
      ...Object.entries(req.env)
        .filter(([k]) => !DROPPED_ENV.test(k))
        .map(([k, v]) => `${k}=${v}`)
        .sort(),
      `PATH=${this.ctx.realPath}`,
      'TMPDIR=/tmp',
    ];
    const ctype = req.env['LC_ALL'] || req.env['LC_CTYPE'] || req.env['LANG'] || '';
    if (/utf-?8/i.test(ctype) && fs.existsSync(UTF8_CTYPE)) {
      env.push('LANG=C', 'LC_CTYPE=C.UTF-8');
      values.push(this.ctx.declarer.declareAbsolute(UTF8_CTYPE));
    } else env.push('LANG=C', 'LC_ALL=C');
    const progFile = path.isAbsolute(given) ? path.normalize(given) : progRel;
    const up =
      cwdRel === ''
        ? '.'
        : cwdRel
            .split(path.sep)
            .map(() => '..')
            .join('/');
    const t = this.ctx.builder.thunk({
      function: sh.name,
      args: ['/bin/sh', '-c', script(stdin !== undefined), 'sh', up, ...stdinArg, given, ...req.argv.slice(2)],
      env,
      values,
      thunks,
      executables: [...sh.inputs, { name: program.name, filename: progFile }, ...program.libs],
      outputs: [STDOUT, LISTING],
      ...(cwdRel ? { cwd: cwdRel } : {}),
    });
    const refs = [t.name, joinTag(t.name, LISTING)];
    // A run the local memo answers needs no runtime (a rebuild's generators): opening one, and a scheduler
    // to look the memo up, was most of such an answer.
    let printed = '';
    let [out, listing] = refs.map((r) => knownResult(this.ctx.store, r));
    let store: { get(name: string): Promise<Buffer> } = this.ctx.store;
    if (out === undefined || listing === undefined) {
      const rt = await this.context();
      store = rt.store;
      // What the run printed is shown once it is accepted (a rejected run is printed by the real one).
      const outcome = await forceRefs(rt, refs, {
        jobs: 1,
        trace: false,
        onEvent: (e) => {
          if (e.type === 'finished') printed += e.log;
        },
      });
      [out, listing] = refs.map((r) => outcome.results.get(r));
      if (out === undefined || listing === undefined)
        real(
          'a program run that failed in the jail (or reads undeclared files)',
          outcome.errors.get(refs[0]!)?.message,
        );
    }
    const allowed = new Set([...relNames, path.join(cwdRel, STDOUT), path.join(cwdRel, LISTING), progFile]);
    for (const line of (await store.get(listing)).toString('utf8').split('\n')) {
      const f = path.normalize(line);
      if (line !== '' && !allowed.has(f)) real('a program run that writes files', f);
    }
    this.ctx.stats.runs++;
    this.ctx.log(`gg-force-and-run: ${progRel} answered from thunk ${t.name}`);
    return { status: 0, stdout: await store.get(out), stderr: printed };
  }

  /** /bin/sh and its closure, as GraphBuilder.executableFile gives them, from the closure cache. */
  private shell(): { name: string; inputs: ThunkInput[] } {
    if (this.sh) return this.sh;
    const inputs = closureInputs(this.ctx.store, this.inferDir, '/bin/sh');
    this.sh = { name: inputs[0]!.name, inputs };
    return this.sh;
  }

  /** The program's content name (its link forced, or its memo looked up) and its libraries. */
  private async forcedProgram(link: string): Promise<{ name: string; libs: ThunkInput[] }> {
    let name = knownResult(this.ctx.store, link);
    if (name === undefined) {
      const rt = await this.context();
      const outcome = await forceRefs(rt, [link], { jobs: 2, trace: false, onEvent: showThunkLogs(process.stderr) });
      name = outcome.results.get(link);
      if (name === undefined) real('a program run whose program did not build', outcome.errors.get(link)?.message);
    }
    let libs = this.closures.get(name);
    if (libs === undefined) {
      const blob = this.ctx.store.blobPath(name);
      let files;
      try {
        files = cachedClosure(this.inferDir, blob);
      } catch (e) {
        real('a program run whose libraries are not all on the host', (e as Error).message);
      }
      libs = files
        .filter((f) => f.filename !== blob)
        .map((f) => ({ name: this.ctx.store.putFileSync(f.hostPath).name, filename: f.filename }));
      this.closures.set(name, libs);
    }
    return { name, libs };
  }
}

/**
 * A link that read a shared library of the project: the program loads it at run time through its RUNPATH
 * ($ORIGIN, the build tree), which the program's closure (resolved from the store) would not find or would
 * find elsewhere.
 */
function usesProjectLibrary(link: Thunk, underRoot: (abs: string) => boolean): boolean {
  return [...link.values, ...link.thunks].some(
    (i) =>
      i.filename !== undefined &&
      (!path.isAbsolute(i.filename) || underRoot(i.filename)) &&
      /\.so(\.|$)/.test(path.basename(i.filename)),
  );
}
