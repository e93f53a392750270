/** The deployment package as `gg lambda package` writes it, unzipped (with the system unzip) for a jail or a local server. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GG } from './cli.js';

export function writeZipTo(dir: string): void {
  const zip = path.join(dir, '.function.zip');
  // The real command, from the bundle users run: it finds the package's root from its own dist/src URL.
  const made = spawnSync(process.execPath, [GG, 'lambda', 'package', '-o', zip], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`gg lambda package failed: ${made.stderr}`);
  if (!made.stdout.startsWith(`${zip}: `)) throw new Error(`gg lambda package said: ${made.stdout}`);
  const r = spawnSync('unzip', ['-q', zip, '-d', dir], { encoding: 'utf8' });
  fs.rmSync(zip);
  if (r.status !== 0) throw new Error(`unzip failed: ${r.stderr}`);
}
