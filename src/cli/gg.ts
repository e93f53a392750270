#!/usr/bin/env node
/** The `gg` program (what the bundle dist/bin/gg.js is made from: scripts/bundle.mjs). */
/**
 * `gg force` with the usual arguments skips commander (force-argv.ts); everything else goes through main, loaded
 * only then (its module checks whether it is the entry point: a realpath and two URL conversions a force skips).
 */
async function run(argv: string[]): Promise<void> {
  if (argv[2] === 'force') {
    const { parseForceArgv } = await import('./force-argv.js');
    const parsed = parseForceArgv(argv.slice(3));
    if (parsed) {
      const [{ action }, { runForce }] = await Promise.all([import('./errors.js'), import('./force-action.js')]);
      return action(runForce)(parsed.targets, parsed.opts);
    }
  }
  const { main } = await import('./main.js');
  return main(argv);
}

void run(process.argv);
