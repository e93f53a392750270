/** gg verify: argv -> verifyRefs(); placeholders are read, never replaced. */
import type { Command } from 'commander';
import { resolveTarget } from '../../force/targets.js';
import { nondeterminismError, verifyRefs } from '../../force/verify.js';
import { openRuntime } from '../../runtime.js';
import { action, reportError } from '../errors.js';
import {
  limitsFromFlags,
  sandboxFromFlags,
  STORAGE_HELP,
  storageUriFromFlags,
  withExecutionOptions,
} from '../sandbox-flags.js';

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
        const sandbox = sandboxFromFlags(o);
        const storageUri = storageUriFromFlags(o);
        const rt = await openRuntime({ sandbox, limits: limitsFromFlags(o), ...(storageUri ? { storageUri } : {}) });
        try {
          const refs = [
            ...new Set(
              targets
                .map((t) => resolveTarget(t, rt.local))
                .filter((t) => !t.upToDate)
                .map((t) => t.ref),
            ),
          ];
          const outcome = await verifyRefs(refs, { store: rt.store, engine: rt.engine, jobs: o.jobs });
          const nd = nondeterminismError(outcome.differences);
          if (o.json) {
            process.stdout.write(
              JSON.stringify({
                checked: outcome.checked,
                differences: outcome.differences,
                errors: Object.fromEntries([...outcome.errors].map(([r, e]) => [r, e.code])),
              }) + '\n',
            );
          } else if (!nd && outcome.errors.size === 0) {
            process.stderr.write(`gg: ${outcome.checked} thunk(s) run twice: every output agrees\n`);
          }
          for (const e of outcome.errors.values()) reportError(e);
          if (nd) reportError(nd);
          return nd || outcome.errors.size > 0 ? 1 : 0;
        } finally {
          if (!o.json) for (const n of rt.notices()) process.stderr.write(`gg: note: ${n}\n`);
          await rt.close();
        }
      }),
    );
}
