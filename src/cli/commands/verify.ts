/** gg verify: argv -> verifyRefs(); placeholders are read, never replaced. */
import type { Command } from 'commander';
import { verifyTargets } from '../../force/force-command.js';
import { openRuntime } from '../../runtime.js';
import { action, reportError } from '../errors.js';
import { closeRuntime } from '../force-ui.js';
import {
  runtimeFromFlags,
  withExecutionOptions,
  withStorageOptions,
  type LimitFlags,
  type StorageFlags,
} from '../sandbox-flags.js';

interface Opts extends LimitFlags, StorageFlags {
  jobs: number;
  sandbox: string;
  json?: boolean;
}

export function registerVerify(program: Command): void {
  withStorageOptions(
    withExecutionOptions(
      program
        .command('verify')
        .description(
          'check determinism: run every thunk of the targets twice in fresh jails and report outputs that differ',
        )
        .argument('<targets...>', 'placeholder files, thunk names or thunk files'),
    ),
  )
    .option('--json', 'print one JSON summary on stdout')
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
