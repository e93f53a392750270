/**
 * `gg explain TARGET`: why thunks ran instead of being memo hits. The target's thunk graph now is lined up
 * with the graph the same placeholder had in an earlier job (from the job traces): roots are paired, then
 * inputs made by thunks are paired by the file name they appear under, down the graph. A thunk with no such
 * partner is paired with the most similar stored thunk of the same program (by command line and inputs).
 * For each thunk that ran (in the newest job that ran any of them, or that would run now), the differences
 * from its partner are named: an input's content, an argument, the environment, the toolchain (a different
 * executable), or an input made by a thunk that changed (with that thunk's own reasons).
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../errors.js';
import { isThunkName, isValidName, shortName, splitTag } from '../ir/name.js';
import { readPlaceholder } from '../ir/placeholder.js';
import { decodeThunk, type Thunk, type ThunkInput } from '../ir/thunk.js';
import type { LocalStore } from '../store/local-store.js';
import { listJobs, readJob } from './job-history.js';

export type Difference =
  | { kind: 'input'; file: string; before: string; after: string }
  | { kind: 'input-added'; file: string }
  | { kind: 'input-removed'; file: string }
  | { kind: 'argument'; before: string[]; after: string[] }
  | { kind: 'environment'; variable: string; before?: string; after?: string }
  | { kind: 'toolchain'; file: string; before: string; after: string }
  | { kind: 'dependency'; file: string; thunk: string; causes: Difference[] }
  | { kind: 'not-in-memo' }
  | { kind: 'new' }
  | { kind: 'other'; what: string };

export interface ThunkExplanation {
  thunk: string;
  program: string;
  /** 'executed' in job `job`, or 'will-run' (not in the memo now). */
  status: 'executed' | 'will-run';
  earlier?: { thunk: string; via: 'placeholder' | 'input-name' | 'similar-command' };
  differences: Difference[];
  /** The differences in words, one per line. */
  words: string[];
}

export interface ExplainOptions {
  store: LocalStore;
  target: string;
}

export interface ExplainResult {
  target: string;
  ref: string;
  /** The job whose runs are explained, when a trace had them. */
  job?: string;
  /** Thunk the target had in an earlier job, when one was found. */
  earlierRoot?: string;
  explanations: ThunkExplanation[];
}

export function explain(o: ExplainOptions): ExplainResult {
  const { store } = o;
  const { ref, earlier } = resolveTarget(o);
  const root = splitTag(ref).name;
  if (!isThunkName(root))
    throw new GgError('GG_E_USAGE', `${o.target} names a value (${shortName(root)}), not a thunk: nothing ran`, {
      hint: 'give a placeholder or a thunk name',
    });
  const thunks = new ThunkCache(store);
  const graph = thunks.graph(root);

  // What ran: the newest job that ran any thunk of this graph; else what is not in the memo now.
  let job: string | undefined;
  let ran: string[] = [];
  const jobs = listJobs(store.ggDir).reverse();
  for (const j of jobs) {
    const data = readJob(j.file);
    const names = data.spans
      .filter((s) => s.status === 'executed' || s.status === 'failed')
      .map((s) => s.orig ?? s.name)
      .filter((n) => graph.has(n));
    if (names.length > 0) {
      job = data.header.id;
      ran = [...new Set(names)];
      break;
    }
  }
  const status: ThunkExplanation['status'] = job ? 'executed' : 'will-run';
  if (!job) ran = [...graph].filter((n) => store.getReductionSync(n) === undefined);

  // Pair the graph with the earlier one, top down.
  const pairs = new Map<string, { thunk: string; via: NonNullable<ThunkExplanation['earlier']>['via'] }>();
  const align = (now: string, before: string, via: NonNullable<ThunkExplanation['earlier']>['via']): void => {
    if (pairs.has(now)) return;
    pairs.set(now, { thunk: before, via });
    if (now === before) return;
    const a = thunks.get(now);
    const b = thunks.get(before);
    if (!a || !b) return;
    const prior = byFile(b.thunks);
    for (const [file, input] of byFile(a.thunks)) {
      const p = prior.get(file);
      if (p) align(splitTag(input.name).name, splitTag(p.name).name, 'input-name');
    }
  };
  if (earlier && earlier !== root) align(root, earlier, 'placeholder');

  const explained = new Map<string, Difference[]>();
  const reasons = (name: string, depth = 0): Difference[] => {
    const known = explained.get(name);
    if (known) return known;
    explained.set(name, []); // cycles in hostile input end here
    let partner = pairs.get(name);
    if (!partner) {
      const similar = thunks.mostSimilar(name, graph);
      if (similar) {
        partner = { thunk: similar, via: 'similar-command' };
        pairs.set(name, partner);
      }
    }
    const diffs = partner
      ? differences(thunks, name, partner.thunk, (dep) => (depth < 64 ? reasons(dep, depth + 1) : []))
      : [{ kind: 'new' } as const];
    explained.set(name, diffs);
    return diffs;
  };

  const order = thunks.topological(root).filter((n) => ran.includes(n));
  const explanations = order.map((name): ThunkExplanation => {
    const differencesNow = reasons(name);
    const t = thunks.get(name);
    const partner = pairs.get(name);
    return {
      thunk: name,
      program: path.posix.basename(t?.function.args[0] ?? '?'),
      status,
      ...(partner ? { earlier: partner } : {}),
      differences: differencesNow,
      words: differencesNow.map((d) => inWords(d)),
    };
  });
  return { target: o.target, ref, ...(job ? { job } : {}), ...(earlier ? { earlierRoot: earlier } : {}), explanations };
}

/** The target's reference now, and the one the same placeholder had in the newest earlier job. */
function resolveTarget(o: ExplainOptions): { ref: string; earlier?: string } {
  const jobs = listJobs(o.store.ggDir).reverse();
  let file: string | undefined;
  let ref: string | undefined;
  if (fs.existsSync(o.target)) {
    file = path.resolve(o.target);
    ref = readPlaceholder(o.target); // undefined once forced: the output replaced the placeholder
  } else if (isValidName(splitTag(o.target).name)) {
    ref = o.target;
  } else {
    throw new GgError('GG_E_FILE_NOT_FOUND', `target '${o.target}' is neither a file nor an object name`, {
      hint: 'give a placeholder (or a file gg force built) or a thunk name',
    });
  }
  const history =
    file === undefined
      ? []
      : jobs.flatMap((j) => (j.header?.targets ?? []).filter((t) => t.file === file).map((t) => t.ref));
  ref ??= history[0];
  if (ref === undefined) {
    throw new GgError('GG_E_PLACEHOLDER_INVALID', `${o.target} is not a placeholder, and no recorded job forced it`, {
      hint: 'give a placeholder, a file an earlier gg force built, or a thunk name',
    });
  }
  const earlier = history.find((r) => r !== ref);
  return earlier === undefined ? { ref } : { ref, earlier: splitTag(earlier).name };
}

function byFile(list: readonly ThunkInput[]): Map<string, ThunkInput> {
  return new Map(list.map((i) => [i.filename || i.name, i]));
}

function differences(
  thunks: ThunkCache,
  now: string,
  before: string,
  depReasons: (dep: string) => Difference[],
): Difference[] {
  if (now === before) return [{ kind: 'not-in-memo' }];
  const a = thunks.get(now);
  const b = thunks.get(before);
  if (!a || !b) return [{ kind: 'new' }];
  const out: Difference[] = [];
  // Toolchain: executables under the same file name with different content; else the program itself.
  const exeBefore = byFile(b.executables);
  for (const [file, e] of byFile(a.executables)) {
    const p = exeBefore.get(file);
    if (p && p.name !== e.name) out.push({ kind: 'toolchain', file, before: p.name, after: e.name });
  }
  if (out.length === 0 && a.function.hash !== b.function.hash)
    out.push({
      kind: 'toolchain',
      file: a.function.args[0] ?? 'the program',
      before: b.function.hash,
      after: a.function.hash,
    });
  if (a.function.args.join('\0') !== b.function.args.join('\0')) {
    const removed = multisetMinus(b.function.args, a.function.args);
    const added = multisetMinus(a.function.args, b.function.args);
    out.push({ kind: 'argument', before: removed, after: added });
  }
  const envA = envMap(a.function.envars);
  const envB = envMap(b.function.envars);
  for (const k of new Set([...envA.keys(), ...envB.keys()])) {
    const x = envA.get(k);
    const y = envB.get(k);
    if (x !== y)
      out.push({
        kind: 'environment',
        variable: k,
        ...(y === undefined ? {} : { before: y }),
        ...(x === undefined ? {} : { after: x }),
      });
  }
  const valBefore = byFile(b.values);
  const valNow = byFile(a.values);
  for (const [file, v] of valNow) {
    const p = valBefore.get(file);
    if (!p) out.push({ kind: 'input-added', file });
    else if (p.name !== v.name) out.push({ kind: 'input', file, before: p.name, after: v.name });
  }
  for (const file of valBefore.keys()) if (!valNow.has(file)) out.push({ kind: 'input-removed', file });
  const depBefore = byFile(b.thunks);
  for (const [file, d] of byFile(a.thunks)) {
    const p = depBefore.get(file);
    if (!p) out.push({ kind: 'input-added', file });
    else if (p.name !== d.name) {
      const dep = splitTag(d.name).name;
      out.push({
        kind: 'dependency',
        file,
        thunk: dep,
        causes: depReasons(dep).flatMap((c) => (c.kind === 'dependency' ? c.causes : [c])),
      });
    }
  }
  for (const file of depBefore.keys()) if (!byFile(a.thunks).has(file)) out.push({ kind: 'input-removed', file });
  if ((a.cwd ?? '') !== (b.cwd ?? ''))
    out.push({ kind: 'other', what: `start directory '${b.cwd ?? ''}' → '${a.cwd ?? ''}'` });
  if (a.outputs.join(',') !== b.outputs.join(','))
    out.push({ kind: 'other', what: `outputs ${b.outputs.join(',')} → ${a.outputs.join(',')}` });
  if (a.timeout !== b.timeout) out.push({ kind: 'other', what: `timeout ${b.timeout} → ${a.timeout} ms` });
  if (JSON.stringify(a.links) !== JSON.stringify(b.links))
    out.push({ kind: 'other', what: 'symlinks in the working directory' });
  return out.length > 0
    ? out
    : [{ kind: 'other', what: 'inputs list the same files under a different order or spelling' }];
}

function multisetMinus(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = left.get(x) ?? 0;
    if (n > 0) left.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

function envMap(envars: readonly string[]): Map<string, string> {
  return new Map(
    envars.map((e) => {
      const i = e.indexOf('=');
      return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
    }),
  );
}

export function inWords(d: Difference): string {
  switch (d.kind) {
    case 'input':
      return `input content: ${d.file} changed (${shortName(d.before)} → ${shortName(d.after)})`;
    case 'input-added':
      return `input added: ${d.file}`;
    case 'input-removed':
      return `input removed: ${d.file}`;
    case 'argument': {
      if (d.before.length === 0 && d.after.length === 0) return 'argument: the same arguments in another order';
      if (d.before.length === 0) return `argument added: ${d.after.join(' ')}`;
      if (d.after.length === 0) return `argument removed: ${d.before.join(' ')}`;
      return `argument: ${d.before.join(' ')} → ${d.after.join(' ')}`;
    }
    case 'environment':
      if (d.before === undefined) return `environment: ${d.variable}=${d.after} was added`;
      if (d.after === undefined) return `environment: ${d.variable} (was ${d.before}) was removed`;
      return `environment: ${d.variable} changed from '${d.before}' to '${d.after}'`;
    case 'toolchain':
      return `toolchain: ${d.file} is a different executable (${shortName(d.before)} → ${shortName(d.after)})`;
    case 'dependency': {
      const why = d.causes.map((c) => inWords(c)).join('; ');
      return `input ${d.file} is made by a thunk that changed${why ? `, because ${why}` : ''}`;
    }
    case 'not-in-memo':
      return 'the same thunk ran before, but its result was not in the memo (removed by gg gc, or never recorded)';
    case 'new':
      return 'new: no earlier thunk for this output or command line';
    case 'other':
      return d.what;
  }
}

/** Thunks decoded from the store on demand; the store's other thunks as candidates for "most similar". */
class ThunkCache {
  private readonly decoded = new Map<string, Thunk | null>();
  private all: string[] | undefined;

  constructor(private readonly store: LocalStore) {}

  get(name: string): Thunk | undefined {
    let t = this.decoded.get(name);
    if (t === undefined) {
      try {
        t = decodeThunk(this.store.getSync(name));
      } catch {
        t = null; // missing or damaged: no partner from it
      }
      this.decoded.set(name, t);
    }
    return t ?? undefined;
  }

  graph(root: string): Set<string> {
    return new Set(this.topological(root));
  }

  /** Dependencies before dependants. */
  topological(root: string): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    const visit = (name: string): void => {
      if (seen.has(name)) return;
      seen.add(name);
      const t = this.get(name);
      for (const d of t?.thunks ?? []) visit(splitTag(d.name).name);
      out.push(name);
    };
    visit(root);
    return out;
  }

  /** The stored thunk (outside the current graph, with a memo entry) most like `name`, or none. */
  mostSimilar(name: string, exclude: Set<string>): string | undefined {
    const t = this.get(name);
    if (!t) return undefined;
    this.all ??= fs.readdirSync(this.store.blobsDir).filter((n) => n.startsWith('T') && isValidName(n));
    const program = path.posix.basename(t.function.args[0] ?? '');
    const files = (x: Thunk): Set<string> => new Set([...x.values, ...x.thunks].map((i) => i.filename || i.name));
    const mine = files(t);
    const deps = t.thunks
      .map((i) => i.filename)
      .sort()
      .join('\0');
    let best: { name: string; score: number; mtime: number } | undefined;
    for (const c of this.all) {
      if (c === name || exclude.has(c)) continue;
      const o = this.get(c);
      if (!o || path.posix.basename(o.function.args[0] ?? '') !== program) continue;
      if (this.store.getReductionSync(c) === undefined) continue;
      const theirs = files(o);
      const shared = [...mine].filter((f) => theirs.has(f)).length;
      const jaccard = shared / Math.max(1, new Set([...mine, ...theirs]).size);
      const argsShared = t.function.args.length - multisetMinus(t.function.args, o.function.args).length;
      const argSim = argsShared / Math.max(t.function.args.length, o.function.args.length, 1);
      const score =
        5 * jaccard +
        5 * argSim +
        (o.outputs.join() === t.outputs.join() ? 2 : 0) +
        ((o.cwd ?? '') === (t.cwd ?? '') ? 1 : 0) +
        (o.thunks
          .map((i) => i.filename)
          .sort()
          .join('\0') === deps
          ? 3
          : 0);
      if (score < 6) continue; // too unlike to be "the same step, changed"
      const mtime = fs.statSync(this.store.blobPath(c), { throwIfNoEntry: false })?.mtimeMs ?? 0;
      if (!best || score > best.score || (score === best.score && mtime > best.mtime)) best = { name: c, score, mtime };
    }
    return best?.name;
  }
}
