/** The deployment package as `gg lambda package` writes it, unzipped (with the system unzip) for a jail or a local server. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildPackage } from '../../src/engine/lambda/package.js';
import { REPO } from './cli.js';

export function writeZipTo(dir: string): void {
  const zip = path.join(dir, '.function.zip');
  fs.writeFileSync(zip, buildPackage({ root: REPO }).zip);
  const r = spawnSync('unzip', ['-q', zip, '-d', dir], { encoding: 'utf8' });
  fs.rmSync(zip);
  if (r.status !== 0) throw new Error(`unzip failed: ${r.stderr}`);
}
