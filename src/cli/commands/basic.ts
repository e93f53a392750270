/** init, hash, collect, describe: thin wrappers over the store and IR. */
import type { Command } from 'commander';
import { describeTarget } from '../../force/targets.js';
import { commandLine, describeHuman, describeJson } from '../../ir/describe.js';
import { initGgDir } from '../../store/gg-dir.js';
import { hashFileUncached } from '../../store/hash-cache.js';
import { assertRegularFile } from '../../ir/regular-file.js';
import { openLocalStore } from '../../runtime.js';
import { action } from '../errors.js';

export function registerBasic(program: Command): void {
  program
    .command('init')
    .description('create .gg/ here ($GG_DIR overrides)')
    .addHelpText('after', '\nExample:\n  gg init')
    .action(
      action(() => {
        process.stdout.write(`${initGgDir()}\n`);
      }),
    );

  program
    .command('hash')
    .argument('<file>')
    .description("print the object name of a file's content")
    .addHelpText('after', '\nExample:\n  gg hash src/main.c')
    .action(
      action((file: string) => {
        assertRegularFile(file);
        process.stdout.write(`${hashFileUncached(file)}\n`);
      }),
    );

  program
    .command('collect')
    .argument('<files...>')
    .description('store files in .gg/blobs and print one name per line')
    .addHelpText('after', '\nExample:\n  gg collect /bin/sh input.txt')
    .action(
      action((files: string[]) => {
        const store = openLocalStore();
        const out: string[] = [];
        for (const f of files) {
          assertRegularFile(f);
          out.push(store.putFileSync(f).name);
        }
        process.stdout.write(out.map((n) => `${n}\n`).join(''));
        store.hashCache.flush();
      }),
    );

  program
    .command('describe')
    .argument('<target>', 'object name or placeholder file')
    .option('--json', "gg's JSON form")
    .option('-c, --command', 'print only the command line')
    .description('show a thunk')
    .addHelpText('after', '\nExample:\n  gg describe src/lua --json')
    .action(
      action(async (target: string, opts: { json?: boolean; command?: boolean }) => {
        const { name, thunk: t, reduction } = describeTarget(target, openLocalStore());
        if (opts.command) process.stdout.write(commandLine(t) + '\n');
        else if (opts.json) process.stdout.write(describeJson(t) + '\n');
        else process.stdout.write(describeHuman(name, t, reduction()));
      }),
    );
}
