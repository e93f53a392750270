/** Rendering a thunk for people (`gg describe`), for machines (`--json`, gg's layout) and as a command line (`-c`). */
import { inputToString, type Thunk } from './thunk.js';

/** gg's describe JSON: protobuf's printer style (1-space indent, <, >, & escaped). */
export function describeJson(t: Thunk): string {
  const obj = {
    function: { hash: t.function.hash, args: t.function.args, envars: t.function.envars },
    values: t.values.map(inputToString),
    thunks: t.thunks.map(inputToString),
    executables: t.executables.map(inputToString),
    outputs: t.outputs,
    links: Object.entries(t.links).map(([k, v]) => `${k}=${v}`),
    timeout: t.timeout,
    ...(t.cwd ? { cwd: t.cwd } : {}),
  };
  return JSON.stringify(obj, null, 1).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`) + '\n';
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./{}#-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(t: Thunk): string {
  const env = t.function.envars.map(shellQuote);
  const cd = t.cwd ? [`cd ${shellQuote(t.cwd)} &&`] : [];
  return [...cd, ...(env.length ? ['env', '-i', ...env] : []), ...t.function.args.map(shellQuote)].join(' ');
}

export function describeHuman(name: string, t: Thunk, reducedTo?: string): string {
  const lines: string[] = [`thunk ${name}`];
  const row = (k: string, v: string): void => void lines.push(`  ${k.padEnd(12)}${v}`);
  row('function', t.function.hash);
  row('command', commandLine(t));
  const list = (k: string, items: { name: string; filename?: string }[]): void => {
    if (items.length === 0) return;
    items.forEach((i, n) => row(n === 0 ? k : '', i.filename ? `${i.name}  ${i.filename}` : i.name));
  };
  list('values', t.values);
  list('thunks', t.thunks);
  list('executables', t.executables);
  row('outputs', t.outputs.join(', '));
  if (t.timeout) row('timeout', `${t.timeout} ms`);
  if (t.cwd) row('cwd', t.cwd);
  for (const [k, v] of Object.entries(t.links)) row('link', `${k} -> ${v}`);
  row('result', reducedTo ?? '(not forced yet)');
  return lines.join('\n') + '\n';
}
