/** Locating the .gg directory: $GG_DIR (absolute) or the nearest `.gg` walking up from the cwd, as gg does. */
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../errors.js';

export function findGgDir(cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['GG_DIR'];
  if (fromEnv) {
    if (!path.isAbsolute(fromEnv)) {
      throw new GgError('GG_E_NO_GG_DIR', `GG_DIR must be an absolute path, got '${fromEnv}'`, {
        hint: 'export GG_DIR=$PWD/.gg',
      });
    }
    if (!fs.existsSync(fromEnv)) {
      throw new GgError('GG_E_NO_GG_DIR', `GG_DIR ${fromEnv} does not exist`, {
        hint: `run 'gg init' (it creates $GG_DIR)`,
      });
    }
    return fromEnv;
  }
  let dir = path.resolve(cwd);
  for (;;) {
    const candidate = path.join(dir, '.gg');
    try {
      if (fs.statSync(candidate).isDirectory()) return candidate;
    } catch {
      // keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new GgError('GG_E_NO_GG_DIR', `no .gg directory in ${cwd} or any parent`, {
    hint: "run 'gg init' in the project's top directory (or set GG_DIR)",
  });
}

/** Create the layout (idempotent) and return the directory. */
export function initGgDir(cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  const dir = env['GG_DIR'] ? path.resolve(env['GG_DIR']) : path.join(path.resolve(cwd), '.gg');
  for (const sub of ['blobs', 'reductions', 'tmp', 'cache']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  return dir;
}
