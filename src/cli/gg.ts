#!/usr/bin/env node
/** The `gg` program (what the bundle dist/bin/gg.js is made from: scripts/bundle.mjs). */
import { main } from './main.js';

/** `gg force` with the usual arguments skips commander (force-argv.ts); everything else goes through main. */
async function run(argv: string[]): Promise<void> {
  if (argv[2] === 'force') {
    const { parseForceArgv } = await import('./force-argv.js');
    const parsed = parseForceArgv(argv.slice(3));
    if (parsed) {
      const [{ action }, { runForce }] = await Promise.all([import('./errors.js'), import('./force-action.js')]);
      return action(runForce)(parsed.targets, parsed.opts);
    }
  }
  return main(argv);
}

void run(process.argv);
