#!/usr/bin/env node
/** The `gg` command: argument parsing only; every command calls the library. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { reportError } from './errors.js';
import { stdout } from './stdio.js';
import { GgError } from '../errors.js';

const VERSION = '0.1.0';

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when that command runs (or for the full --help): a command's library
 * (infer's server, the stores, the jail) is start-up time every placeholder run as a program pays.
 */
const COMMANDS: [names: string[], load: () => Promise<Register>][] = [
  [['init', 'hash', 'collect', 'describe'], async () => (await import('./commands/basic.js')).registerBasic],
  [['create-thunk'], async () => (await import('./commands/create-thunk.js')).registerCreateThunk],
  [['force'], async () => (await import('./commands/force.js')).registerForce],
  [['infer'], async () => (await import('./commands/infer.js')).registerInfer],
  [['verify'], async () => (await import('./commands/verify.js')).registerVerify],
  [['trace', 'explain', 'status', 'gc'], async () => (await import('./commands/observe.js')).registerObserve],
  [['test'], async () => (await import('./commands/test.js')).registerTest],
  [['map'], async () => (await import('./commands/map.js')).registerMap],
  [['lambda'], async () => (await import('./commands/lambda.js')).registerLambda],
  [['worker', 'workers'], async () => (await import('./commands/worker.js')).registerWorker],
];

/** The program for these arguments: only the command named (none for --version), every command otherwise. */
export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const { Command } = await import('commander');
  const program = new Command('gg')
    .description('gg-ts: run jobs as hermetic, content-addressed thunks, in parallel, memoized')
    .version(VERSION)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  // Commands that hand their options through (infer, map, test) need this on the program, whichever is loaded.
  program.enablePositionalOptions();
  const first = argv[2];
  const named = COMMANDS.filter(([names]) => first !== undefined && names.includes(first));
  const wanted = first === '--version' || first === '-V' ? [] : named.length > 0 ? named : COMMANDS;
  for (const register of await Promise.all(wanted.map(([, load]) => load()))) register(program);
  const quiet = (cs: readonly Command[]): void => {
    for (const c of cs) {
      c.exitOverride().configureOutput({ writeErr: () => {} });
      quiet(c.commands);
    }
  };
  quiet(program.commands);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `gg --version` alone answers before commander loads (start-up: docs/BENCHMARKS.md).
  if (argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V')) {
    stdout.write(`${VERSION}\n`);
    return;
  }
  try {
    await (await buildProgram(argv)).parseAsync(argv);
  } catch (e) {
    const { CommanderError } = await import('commander');
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return;
      process.exitCode = reportError(
        new GgError('GG_E_USAGE', e.message.replace(/^error: /, ''), { hint: 'see gg --help, or gg COMMAND --help' }),
      );
      return;
    }
    process.exitCode = reportError(e);
  }
}

/** True when this module is the program node was started with (directly or through npm's bin link). */
function isEntryPoint(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync.native(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

// Run as `gg`, never on import: `import { main } from '.../cli/main.js'` only defines it.
if (isEntryPoint()) void main(process.argv);
