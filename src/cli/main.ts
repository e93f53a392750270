#!/usr/bin/env node
/** The `gg` command: argument parsing only; every command calls the library. */
import { Command, CommanderError } from 'commander';
import { registerBasic } from './commands/basic.js';
import { registerCreateThunk } from './commands/create-thunk.js';
import { registerForce } from './commands/force.js';
import { registerInfer } from './commands/infer.js';
import { registerLambda } from './commands/lambda.js';
import { registerMap } from './commands/map.js';
import { registerTest } from './commands/test.js';
import { registerObserve } from './commands/observe.js';
import { registerVerify } from './commands/verify.js';
import { reportError } from './errors.js';
import { GgError } from '../errors.js';

export function buildProgram(): Command {
  const program = new Command('gg')
    .description('gg-ts: run jobs as hermetic, content-addressed thunks, in parallel, memoized')
    .version('0.1.0')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  registerBasic(program);
  registerCreateThunk(program);
  registerForce(program);
  registerInfer(program);
  registerLambda(program);
  registerVerify(program);
  registerObserve(program);
  registerTest(program);
  registerMap(program);
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
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
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

await main(process.argv);
