/**
 * The archive models. `ar r`/`ar q` (with modifiers c, s, u, D, S) becomes a thunk
 * over its members (placeholders' thunks or files); members keep the names the build gave (ar stores
 * basenames), the archive is written under a fixed tag. Updating an archive that is still a modelled
 * placeholder gives a new thunk with the members replaced (r) or appended (q), as ar would. `ranlib` on a modelled archive adds `s` to its
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
    if (!/^[a-zA-Z]+$/.test(ops)) real('an ar operation not modelled', `ar ${args[0]}`);
    const opLetters = [...ops].filter((c) => 'dmpqrtx'.includes(c));
    if (opLetters.length !== 1 || !['r', 'q'].includes(opLetters[0]!))
      real('an ar operation not modelled', `ar ${ops}`);
    if ([...ops].some((c) => !'rqcsuDS'.includes(c))) real('ar modifiers not modelled', `ar ${ops}`);
    const archive = args[1]!;
    const members = args.slice(2);
    const abs = path.resolve(req.cwd, archive);
    if (members.some((m) => m.startsWith('-'))) real('ar member names starting with -');
    const cwdRel = this.ctx.declarer.cwdFor(req.cwd);
    // Members in archive order: [argPath, input, kind]; an existing modelled archive is updated as ar does.
    let list: { argPath: string; input: ThunkInput; kind: 'value' | 'thunk' }[] = [];
    if (fs.existsSync(abs)) list = this.existingMembers(abs, archive, cwdRel);
    const isQuick = opLetters[0] === 'q';
    for (const m of members) {
      const d = this.ctx.declarer.declare(m, req.cwd, { relocatable: true });
      const entry = { argPath: d.argPath, input: d.input, kind: d.kind };
      const same = isQuick ? -1 : list.findIndex((e) => path.basename(e.argPath) === path.basename(d.argPath));
      if (same >= 0) list[same] = entry;
      else list.push(entry);
    }
    const tool = await this.ctx.toolchains.tool(
      'ar',
      list.map((e) => e.input),
    );
    const values = list.filter((e) => e.kind === 'value').map((e) => e.input);
    const thunks = list.filter((e) => e.kind === 'thunk').map((e) => e.input);
    const argPaths = list.map((e) => e.argPath);
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
    this.ctx.outputs.add(abs);
    this.ctx.log(`ar: ${archive} <- ${members.length} member(s)`);
    return { kind: 'exit', status: 0 };
  }

  /** The members of an archive that is still the placeholder of a modelled `ar` (else the real ar runs). */
  private existingMembers(
    abs: string,
    archive: string,
    cwdRel: string,
  ): { argPath: string; input: ThunkInput; kind: 'value' | 'thunk' }[] {
    const ref = placeholderRef(abs);
    if (ref === undefined) real('ar updates a real archive', archive);
    const { name, tag } = splitTag(ref);
    if (tag !== undefined || !isThunkName(name)) real('not a modelled archive', archive);
    const old = decodeThunk(this.ctx.store.getSync(name));
    const [prog, , out, ...oldMembers] = old.function.args;
    if (!prog || path.basename(prog) !== 'ar' || out !== AR_TAG || (old.cwd ?? '') !== cwdRel)
      real('not a modelled archive', archive);
    const byFile = new Map<string, { input: ThunkInput; kind: 'value' | 'thunk' }>();
    for (const i of old.values) if (i.filename) byFile.set(path.normalize(i.filename), { input: i, kind: 'value' });
    for (const i of old.thunks) if (i.filename) byFile.set(path.normalize(i.filename), { input: i, kind: 'thunk' });
    return oldMembers.map((m) => {
      const found = byFile.get(path.normalize(path.isAbsolute(m) ? m : path.join(cwdRel, m)));
      if (!found) real("an ar member not in the archive's thunk", `${archive}: ${m}`);
      return { argPath: m, ...found };
    });
  }

  /** ranlib ARCHIVE...: a modelled archive gets its symbol index through its ar thunk. */
  async ranlib(req: ModelRequest): Promise<ModelAnswer> {
    const files = req.argv.slice(1);
    if (files.length === 0 || files.some((f) => f.startsWith('-'))) real('ranlib options are not modelled');
    const updates: { file: string; ref: string }[] = [];
    for (const f of files) {
      const abs = path.resolve(req.cwd, f);
      const ref = placeholderRef(abs);
      if (ref === undefined) real('ranlib of a real archive', f);
      const { name, tag } = splitTag(ref);
      if (tag !== undefined || !isThunkName(name)) real('not a modelled archive', f);
      const thunk = decodeThunk(this.ctx.store.getSync(name));
      const [prog, ops] = thunk.function.args;
      if (!prog || path.basename(prog) !== 'ar' || thunk.outputs[0] !== AR_TAG || ops === undefined)
        real('not a modelled archive', f);
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
