/**
 * `gg lambda package`: the deployment zip. It holds this gg-ts build (dist/src), the production packages the
 * function loads (the S3 client's closure, read from node_modules), a package.json marking the code as ES
 * modules, and libfakechroot.so from this machine (lib/), which the executor preloads into every program.
 * Handler setting: dist/src/engine/lambda/handler.handler; runtime nodejs20.x (x86_64).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GgError, fromSystemError } from '../../errors.js';
import { findFakechrootLibrary } from '../../sandbox/fakechroot-sandbox.js';
import { writeZip, type ZipEntry } from './zip.js';

export const HANDLER = 'dist/src/engine/lambda/handler.handler';
export const RUNTIME = 'nodejs20.x';
/** Packages the function imports at run time (the rest of gg's dependencies are for the CLI). */
const FUNCTION_PACKAGES = ['@aws-sdk/client-s3'];

/** The installed gg-ts: the directory holding its package.json and dist/. */
export function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
}

export interface PackageOptions {
  root?: string;
  fakechrootLib?: string;
}

export interface PackageReport {
  zip: Buffer;
  files: number;
  unzippedBytes: number;
}

function walk(dir: string, base: string, out: ZipEntry[], skip: (rel: string) => boolean = () => false): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, e.name);
    const rel = path.posix.join(base, e.name);
    if (skip(rel)) continue;
    if (e.isDirectory()) walk(abs, rel, out, skip);
    else if (e.isFile() || e.isSymbolicLink()) {
      const st = fs.statSync(abs);
      if (st.isFile()) out.push({ path: rel, data: fs.readFileSync(abs), mode: st.mode & 0o111 ? 0o755 : 0o644 });
    }
  }
}

/** The package and its dependencies, found the way Node resolves them (nearest node_modules up the tree). */
function packageClosure(root: string, names: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (name: string, from: string): void => {
    for (let dir = from; ; dir = path.dirname(dir)) {
      const candidate = path.join(dir, 'node_modules', name);
      if (fs.existsSync(path.join(candidate, 'package.json'))) {
        const rel = path.relative(root, candidate);
        if (found.has(rel)) return;
        found.set(rel, candidate);
        const pkg = JSON.parse(fs.readFileSync(path.join(candidate, 'package.json'), 'utf8')) as {
          dependencies?: Record<string, string>;
        };
        for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, candidate);
        return;
      }
      if (path.dirname(dir) === dir) {
        throw new GgError(
          'GG_E_LAMBDA_CONFIG',
          `package ${name} (needed by the function) is not installed under ${root}`,
          { hint: 'run npm ci in the gg-ts directory first' },
        );
      }
    }
  };
  for (const n of names) visit(n, root);
  return found;
}

/** `gg lambda package`: the zip written to `file` (temp + rename: never half a zip under that name). */
export function writePackage(file: string, o: PackageOptions = {}): PackageReport {
  const r = buildPackage(o);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, r.zip);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw fromSystemError(e, `writing ${file}`);
  }
  return r;
}

export function buildPackage(o: PackageOptions = {}): PackageReport {
  const root = o.root ?? packageRoot();
  const dist = path.join(root, 'dist/src');
  if (!fs.existsSync(path.join(dist, 'engine/lambda/handler.js'))) {
    throw new GgError('GG_E_LAMBDA_CONFIG', `no built handler under ${dist}`, { hint: 'run npm run build first' });
  }
  const lib = findFakechrootLibrary(o.fakechrootLib);
  if (!lib) {
    throw new GgError(
      'GG_E_LAMBDA_CONFIG',
      'libfakechroot.so is not installed here, and the function needs it to run thunks',
      {
        hint: 'apt-get install libfakechroot (or set GG_FAKECHROOT_LIB to an x86-64 build of it)',
      },
    );
  }
  const entries: ZipEntry[] = [];
  walk(dist, 'dist/src', entries, (rel) => rel.endsWith('.map') || rel.endsWith('.d.ts'));
  for (const [rel, abs] of packageClosure(root, FUNCTION_PACKAGES)) {
    walk(
      abs,
      rel.split(path.sep).join('/'),
      entries,
      (r) => /\/node_modules$/.test(r) || /\.(md|map|d\.ts)$/.test(r) || /\/dist-(types|es)(\/|$)/.test(r),
    );
  }
  entries.push({
    path: 'package.json',
    data: Buffer.from(JSON.stringify({ name: 'gg-ts-function', private: true, type: 'module' }, null, 2) + '\n'),
    mode: 0o644,
  });
  entries.push({ path: 'lib/libfakechroot.so', data: fs.readFileSync(lib), mode: 0o755 });
  return {
    zip: writeZip(entries),
    files: entries.length,
    unzippedBytes: entries.reduce((n, e) => n + e.data.length, 0),
  };
}
