/** gg create-thunk: argv -> createThunk(). */
import type { Command } from 'commander';
import { createThunk } from '../../frontend/create-thunk.js';
import { openLocalStore } from '../../runtime.js';
import { action, collect, parseIntOption } from '../errors.js';

interface Opts {
  value: string[];
  thunk: string[];
  executable: string[];
  executableFile: string[];
  output: string[];
  envar: string[];
  link: string[];
  timeout: number;
  placeholder?: string;
  cwd?: string;
}

export function registerCreateThunk(program: Command): void {
  program
    .command('create-thunk')
    .description('write a thunk to the store and print its name')
    .option('-v, --value <name[=file]>', 'a value input (repeat)', collect, [])
    .option('-t, --thunk <name[#tag][=file]>', "another thunk's output as input (repeat)", collect, [])
    .option('-e, --executable <name[=file]>', 'an executable input (repeat)', collect, [])
    .option(
      '--executable-file <path>',
      'a host program with its ELF interpreter, libraries and #! interpreter, each at its absolute path (repeat)',
      collect,
      [],
    )
    .option('-o, --output <tag>', 'an output tag; the first is the main output (repeat)', collect, [])
    .option('-E, --envar <NAME=VALUE>', 'an environment variable (repeat); nothing else is inherited', collect, [])
    .option(
      '-T, --timeout <ms>',
      'straggler hint in ms: past it a scheduler may start a duplicate run (never a kill)',
      parseIntOption('--timeout'),
      0,
    )
    .option('-C, --placeholder <path>', 'also write a placeholder for the main output')
    .option('--link <name=target>', 'a symlink in the working directory (repeat)', collect, [])
    .option('--cwd <dir>', 'start directory, relative to the working directory (gg-ts extension)')
    .argument('<command...>', 'FUNCTION-NAME ARGV0 ARGS...')
    .addHelpText(
      'after',
      `
Example:
  SH=$(gg collect /bin/sh); IN=$(gg collect in.txt)
  gg create-thunk -e $SH -v $IN=in.txt -o out -C out.placeholder -- $SH sh -c 'tr a-z A-Z < in.txt > out'

  # a dynamically linked program runs in the jail with its closure; the function is its path (or its hash)
  gg create-thunk --executable-file /bin/sh --executable-file /usr/bin/tr -E PATH=/usr/bin:/bin \
    -v $IN=in.txt -o out -- /bin/sh sh -c 'tr a-z A-Z < in.txt > out'`,
    )
    .action(
      action((command: string[], o: Opts) => {
        const store = openLocalStore();
        const t = createThunk(store, {
          values: o.value,
          thunks: o.thunk,
          executables: o.executable,
          executableFiles: o.executableFile,
          outputs: o.output,
          envars: o.envar,
          links: o.link,
          timeoutMs: o.timeout,
          command,
          ...(o.placeholder ? { placeholder: o.placeholder } : {}),
          ...(o.cwd ? { cwd: o.cwd } : {}),
        });
        process.stdout.write(`${t.name}\n`);
        store.hashCache.flush();
      }),
    );
}
