/** gg verify: argv -> verifyRefs(); placeholders are read, never replaced. */
import type { Command } from 'commander';
import { verifyTargets } from '../../force/force-command.js';
import { openRuntime } from '../../runtime.js';
import { action, reportError } from '../errors.js';
import { closeRuntime } from '../force-ui.js';
import { runtimeFromFlags, STORAGE_HELP, withExecutionOptions } from '../sandbox-flags.js';

interface Opts {
  jobs: number;
  sandbox: string;
  timeout: number;
  json?: boolean;
  storage?: string;
  memoryLimit?: number;
  outputLimit?: number;
  pidsLimit?: number;
}

export function registerVerify(program: Command): void {
  withExecutionOptions(
    program
      .command('verify')
      .description(
        'check determinism: run every thunk of the targets twice in fresh jails and report outputs that differ',
      )
      .argument('<targets...>', 'placeholder files, thunk names or thunk files'),
  )
    .option('--json', 'print one JSON summary on stdout')
    .option('--storage <uri>', STORAGE_HELP)
    .addHelpText(
      'after',
      "\nThe first run of each thunk is the memo's result (forced now if missing); the second ignores the memo.\nExit status 1 with GG_E_NONDETERMINISTIC when any output differs.\n\nExample:\n  gg verify hello.o",
    )
    .action(
      action(async (targets: string[], o: Opts) => {
        const rt = await openRuntime(runtimeFromFlags(o));
        try {
          const outcome = await verifyTargets(rt, targets, { jobs: o.jobs });
          if (o.json) {
            process.stdout.write(
              JSON.stringify({
                checked: outcome.checked,
                differences: outcome.differences,
                errors: Object.fromEntries([...outcome.errors].map(([r, e]) => [r, e.code])),
              }) + '\n',
            );
          } else if (outcome.problems.length === 0) {
            process.stderr.write(`gg: ${outcome.checked} thunk(s) run twice: every output agrees\n`);
          }
          for (const e of outcome.problems) reportError(e);
          return outcome.problems.length > 0 ? 1 : 0;
        } finally {
          await closeRuntime(rt, { notes: !o.json });
        }
      }),
    );
}
