/**
 * `--sandbox=none`: the program runs directly on the host in a fresh private directory holding its declared
 * inputs (hard links to the verified blobs), with only its declared environment. It is not isolated: it could
 * read undeclared files. Absolute input names are accepted only when the host already has that exact content
 * there (we cannot place files at absolute paths without a jail).
 */
import fs from 'node:fs';
import path from 'node:path';
import { GgError } from '../errors.js';
import { replacePlaceholders } from '../ir/thunk.js';
import { Spawner } from './spawner.js';
import type { FileNamer, Sandbox, SandboxRequest, SandboxResult } from './sandbox.js';

export function placeFile(hostPath: string, dest: string): void {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  try {
    fs.linkSync(hostPath, dest);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK') fs.copyFileSync(hostPath, dest);
    else if (code === 'EEXIST') return;
    else throw e;
  }
}

export function envFromEnvars(envars: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of envars) {
    const eq = e.indexOf('=');
    env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return env;
}

export class NoSandbox implements Sandbox {
  readonly kind = 'none';

  private readonly spawner = new Spawner();

  constructor(private readonly files: FileNamer) {}

  async close(): Promise<void> {
    await this.spawner.close();
  }

  async run(req: SandboxRequest): Promise<SandboxResult> {
    if (req.view) throw new GgError('GG_E_INTERNAL', `the ${this.kind} sandbox has no view of a tree (bwrap only)`);
    const objects = req.objects;
    for (const f of req.files) {
      if (path.isAbsolute(f.filename)) {
        let actual: string | undefined;
        try {
          actual = this.files.hashFile(f.filename);
        } catch {
          actual = undefined;
        }
        if (actual !== f.name) {
          throw new GgError(
            'GG_E_SANDBOX_REQUIRED',
            `input ${f.filename} is declared at an absolute path that does not hold it on this host`,
            {
              hint: 'run with the bubblewrap sandbox (the default), which places absolute inputs inside the jail',
            },
          );
        }
        continue;
      }
      placeFile(f.hostPath, path.join(req.workDir, f.filename));
    }
    const startDir = path.join(req.workDir, req.cwd);
    fs.mkdirSync(startDir, { recursive: true });
    // Links last: nothing is created through one (names passing through a link are refused at load time too).
    for (const [name, target] of Object.entries(req.links)) {
      const p = path.join(req.workDir, name);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.symlinkSync(target, p);
    }
    const sub = (s: string): string =>
      replacePlaceholders(s, (n) => objects.get(n) ?? objects.get(n.split('#')[0]!) ?? `@{GGHASH:${n}}`);
    const args = req.args.map(sub);
    const outcome = await this.spawner.run({
      file: req.program,
      args: args.slice(1),
      argv0: args[0]!,
      cwd: startDir,
      env: envFromEnvars(req.envars.map(sub)),
      logFile: req.logFile,
      timeoutMs: req.limits.timeoutMs,
      ...(req.abort ? { abort: req.abort } : {}),
    });
    return { ...outcome, outputDir: startDir };
  }
}
