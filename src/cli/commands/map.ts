/** gg map: argv -> runMap(); each input's stdout in input order (as parallel -k), failures on stderr. */
import fs from 'node:fs';
import type { Command } from 'commander';
import { parseEngineSpec } from '../../engine/engine-spec.js';
import { GgError } from '../../errors.js';
import { runMap } from '../../frontend/map/map.js';
import { openRuntime } from '../../runtime.js';
import { action, collect } from '../errors.js';
import { closeRuntime, startForceUi } from '../force-ui.js';
import { runtimeFromFlags, type RunFlags, withExecutionOptions, withStorageOptions } from '../sandbox-flags.js';

interface Opts extends RunFlags {
  output: string[];
  with: string[];
  argFile: string[];
  null?: boolean;
  results?: string;
  keepOrder?: boolean;
}

export function registerMap(program: Command): void {
  withStorageOptions(
    withExecutionOptions(
      program
        .command('map')
        .description('run a command once per input, each run a memoized thunk in the jail (as GNU parallel / xargs)')
        .argument(
          '<command...>',
          'CMD ARGS... with {} {.} {/} {//} {/.} {#}, then ::: INPUTS... or :::: FILE (default: inputs on stdin)',
        ),
    ),
  )
    .option('-e, --engine <engine>', 'execution engine', 'local')
    .option(
      '-o, --output <pattern>',
      "a file the command writes, e.g. '{}.gz': written back here (repeat)",
      collect,
      [],
    )
    .option(
      '--with <file>',
      'a file the command needs besides the input: a program (with its libraries) or data, at its path (repeat)',
      collect,
      [],
    )
    .option('-a, --arg-file <file>', 'read inputs from a file, one per line (repeat)', collect, [])
    .option('-0, --null', 'inputs are separated by NUL, not newline')
    .option('--results <dir>', "also write each input's stdout/stderr as GNU parallel --results does: DIR/1/INPUT/")
    .option('-k, --keep-order', 'accepted for parallel compatibility: output is always in input order')
    .option('-s, --no-status', 'no status line')
    .option('-v, --verbose', 'a line per thunk started and finished')
    .passThroughOptions()
    .addHelpText(
      'after',
      "\nExamples:\n  gg map -j2 -o '{}.gz' -- gzip -k {} ::: *.txt\n  find . -name '*.png' | gg map -- 'convert {} -resize 50% small/{/}' -o 'small/{/}'\n  gg map -- wc -l ::: a.txt b.txt",
    )
    .action(
      action(async (operands: string[], o: Opts) => {
        const engine = parseEngineSpec(o.engine);
        const { command, inputs } = splitInputs(operands, o);
        const rt = await openRuntime({ engine, ...runtimeFromFlags(o) });
        // Ctrl-C cancels queued and running thunks, as in gg force; what finished stays recorded.
        const { progress, interrupt } = startForceUi({ status: o.status, verbose: o.verbose });
        try {
          const r = await runMap(rt, {
            command,
            inputs,
            jobs: o.jobs,
            outputs: o.output,
            with: o.with,
            onEvent: progress.onEvent,
            signal: interrupt.signal,
            ...(o.results ? { resultsDir: o.results } : {}),
          });
          progress.finish();
          for (const it of r.items) {
            process.stdout.write(it.stdout);
            process.stderr.write(it.stderr);
          }
          for (const it of r.failed) {
            const why = [
              ...(it.exitStatus !== 0 ? [`exit status ${it.exitStatus}`] : []),
              ...(it.missing.length ? [`did not write ${it.missing.join(', ')}`] : []),
            ];
            process.stderr.write(`gg map: input ${it.seq} '${it.input}' failed: ${why.join('; ')}\n`);
          }
          if (o.status || r.failed.length > 0) {
            process.stderr.write(
              `gg map: ${r.items.length} inputs, ${r.failed.length} failed; ${r.executed} run, ${r.cached} from the memo, ${(r.wallMs / 1000).toFixed(1)} s\n`,
            );
          }
          return r.exitCode;
        } finally {
          interrupt.done();
          await closeRuntime(rt, { notes: true });
        }
      }),
    );
}

/** CMD ARGS... [::: INPUTS... | :::: FILE...]; without either (or -a), inputs come from stdin. */
function splitInputs(operands: string[], o: Opts): { command: string[]; inputs: string[] } {
  const sep = o.null ? '\0' : '\n';
  const readList = (file: string): string[] => {
    let text: string;
    try {
      text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (e) {
      throw new GgError('GG_E_FILE_NOT_FOUND', `cannot read inputs from ${file}: ${(e as Error).message}`);
    }
    const items = text.split(sep);
    if (items[items.length - 1] === '') items.pop();
    return items;
  };
  const markers = operands.map((a, i) => (a === ':::' || a === '::::' ? i : -1)).filter((i) => i >= 0);
  if (markers.length > 1)
    throw new GgError('GG_E_USAGE', 'more than one ::: or :::: input source', {
      hint: 'gg map takes one list of inputs (GNU parallel would combine several)',
    });
  let command = operands;
  let inputs: string[] = [];
  if (markers.length === 1) {
    const at = markers[0]!;
    command = operands.slice(0, at);
    const rest = operands.slice(at + 1);
    inputs = operands[at] === ':::' ? rest : rest.flatMap(readList);
  }
  inputs.push(...o.argFile.flatMap(readList));
  if (markers.length === 0 && o.argFile.length === 0) inputs = readList('-');
  if (command.length === 0)
    throw new GgError('GG_E_USAGE', 'no command given', { hint: 'gg map [OPTIONS] -- CMD ARGS... ::: INPUTS...' });
  return { command, inputs };
}
