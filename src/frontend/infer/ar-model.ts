/**
 * The archive models. `ar r`/`ar q` (with modifiers c, s, u, D, S) creating a new archive becomes a thunk
 * over its members (placeholders' thunks or files); members keep the names the build gave (ar stores
 * basenames), the archive is written under a fixed tag. `ranlib` on a modelled archive adds `s` to its
 * thunk (the same result as ar + ranlib). Everything else runs the real tool.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isThunkName, splitTag } from '../../ir/name.js';
import { writePlaceholder } from '../../ir/placeholder.js';
import { decodeThunk, type ThunkInput } from '../../ir/thunk.js';
import { placeholderRef } from './file-declarer.js';
import { real, type InferContext, type ModelAnswer, type ModelRequest } from './model.js';

const AR_TAG = 'gg.out.a';

export class ArModel {
  constructor(private readonly ctx: InferContext) {}

  async run(req: ModelRequest): Promise<ModelAnswer> {
    const args = req.argv.slice(1);
    if (args.length < 3) real('ar without members');
    const ops = args[0]!.replace(/^-/, '');
    if (!/^[a-zA-Z]+$/.test(ops)) real(`ar ${args[0]} is not modelled`);
    const opLetters = [...ops].filter((c) => 'dmpqrtx'.includes(c));
    if (opLetters.length !== 1 || !['r', 'q'].includes(opLetters[0]!)) real(`ar operation ${ops} is not modelled`);
    if ([...ops].some((c) => !'rqcsuDS'.includes(c))) real(`ar modifiers in ${ops} are not modelled`);
    const archive = args[1]!;
    const members = args.slice(2);
    const abs = path.resolve(req.cwd, archive);
    if (fs.existsSync(abs)) real(`ar updates the existing archive ${archive}`);
    if (members.some((m) => m.startsWith('-'))) real('ar member names starting with -');
    const cwdRel = this.ctx.declarer.cwdFor(req.cwd);
    const tool = await this.ctx.toolchains.tool('ar');
    const values: ThunkInput[] = [];
    const thunks: ThunkInput[] = [];
    const argPaths: string[] = [];
    for (const m of members) {
      const d = this.ctx.declarer.declare(m, req.cwd, { relocatable: true });
      (d.kind === 'thunk' ? thunks : values).push(d.input);
      argPaths.push(d.argPath);
    }
    const t = this.ctx.builder.thunk({
      function: tool.programName,
      args: [tool.program, ops, AR_TAG, ...argPaths],
      env: tool.env,
      values: [...values, ...tool.inputs.filter((i) => i.filename !== tool.program)],
      thunks,
      executables: [{ name: tool.programName, filename: tool.program }],
      outputs: [AR_TAG],
      ...(cwdRel ? { cwd: cwdRel } : {}),
      timeoutMs: 5_000,
    });
    this.ctx.stats.thunks++;
    writePlaceholder(abs, t.name);
    this.ctx.log(`ar: ${archive} <- ${members.length} member(s)`);
    return { kind: 'exit', status: 0 };
  }

  /** ranlib ARCHIVE...: a modelled archive gets its symbol index through its ar thunk. */
  async ranlib(req: ModelRequest): Promise<ModelAnswer> {
    const files = req.argv.slice(1);
    if (files.length === 0 || files.some((f) => f.startsWith('-'))) real('ranlib options are not modelled');
    const updates: { file: string; ref: string }[] = [];
    for (const f of files) {
      const abs = path.resolve(req.cwd, f);
      const ref = placeholderRef(abs);
      if (ref === undefined) real(`${f} is not a placeholder`);
      const { name, tag } = splitTag(ref);
      if (tag !== undefined || !isThunkName(name)) real(`${f} is not a modelled archive`);
      const thunk = decodeThunk(this.ctx.store.getSync(name));
      const [prog, ops] = thunk.function.args;
      if (!prog || path.basename(prog) !== 'ar' || thunk.outputs[0] !== AR_TAG || ops === undefined) real(`${f} is not a modelled archive`);
      if (ops.includes('s')) continue;
      const t = this.ctx.builder.thunk({
        function: thunk.function.hash,
        args: [prog, `${ops}s`, ...thunk.function.args.slice(2)],
        env: thunk.function.envars,
        values: thunk.values,
        thunks: thunk.thunks,
        executables: thunk.executables,
        outputs: thunk.outputs,
        ...(thunk.cwd ? { cwd: thunk.cwd } : {}),
        timeoutMs: thunk.timeout,
      });
      this.ctx.stats.thunks++;
      updates.push({ file: abs, ref: t.name });
    }
    for (const u of updates) writePlaceholder(u.file, u.ref);
    return { kind: 'exit', status: 0 };
  }
}
