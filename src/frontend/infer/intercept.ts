/**
 * Interception of tools a build runs by absolute path, which no model on PATH can stand in for: Meson
 * writes `/usr/bin/meson --internal exe ...` into build.ninja. `gg infer` runs the build through the model
 * client as `gg-infer-intercept` (client.c), which makes a private mount namespace and binds itself,
 * read-only, over each such tool; the server then models the tool's commands it knows (meson-model.ts) and
 * the client runs the real tool, at its own path, for everything else. Mount namespaces need privileges
 * (root, as in CI, or CAP_SYS_ADMIN): without them the client runs the build unchanged, and the tools run
 * for real as before. `GG_INFER_INTERCEPT=0` turns it off.
 */
import fs from 'node:fs';
import path from 'node:path';
import { findOnPath, type ModelDir } from './model-dir.js';

/** Tools with a model for the commands a build runs them with by absolute path. */
export const INTERCEPTED_TOOLS = ['meson'];

/** The real paths (symbolic links resolved: the bind lands on the file) of the tools to intercept. */
export function interceptPaths(realPath: string): string[] {
  const out: string[] = [];
  for (const tool of INTERCEPTED_TOOLS) {
    const p = findOnPath(tool, realPath);
    if (p === undefined) continue;
    let file: string;
    try {
      file = fs.realpathSync(p);
    } catch {
      continue;
    }
    if (!file.includes(':') && !out.includes(file)) out.push(file);
  }
  return out;
}

/**
 * How to spawn `command` with interception: the client as `gg-infer-intercept -- command...` and the paths
 * in GG_INFER_INTERCEPT; undefined when there is nothing to intercept, no compiled client, or the command
 * cannot be found (spawning it directly then reports that as before).
 */
export function interceptedSpawn(
  models: ModelDir,
  command: string[],
  env: NodeJS.ProcessEnv,
  realPath: string,
  cwd: string,
): { file: string; args: string[]; argv0: string; env: NodeJS.ProcessEnv } | undefined {
  if (models.client !== 'c' || process.platform !== 'linux' || process.env['GG_INFER_INTERCEPT'] === '0')
    return undefined;
  const paths = interceptPaths(realPath);
  if (paths.length === 0) return undefined;
  const cmd = command[0]!;
  if (cmd.includes('/') ? !isExecutable(path.resolve(cwd, cmd)) : findOnPath(cmd, env['PATH'] ?? '') === undefined)
    return undefined;
  const client = fs.realpathSync(models.models.get('cc') ?? path.join(models.dir, 'gg-force-and-run'));
  return {
    file: client,
    args: ['--', ...command],
    argv0: 'gg-infer-intercept',
    env: { ...env, GG_INFER_INTERCEPT: paths.join(':') },
  };
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
