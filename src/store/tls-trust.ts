/**
 * NODE_EXTRA_CA_CERTS without its start-up cost. Node 20 reads that file and builds its whole root store with it
 * when the process starts, whether or not the process ever makes a TLS connection (the eager load came with
 * nodejs/node#23354; its cost is nodejs/node#40524, and nodejs/node#44529 made later Nodes load it on first
 * use): ~50 ms of CPU per process where the variable names the system bundle, more than all the rest of a
 * memoized `gg force`. So the programs' launcher (scripts/bundle.mjs) starts Node with the variable moved to
 * GG_TS_NODE_EXTRA_CA_CERTS; the program puts it back at once for its children (`adoptExtraCaCerts`: a build run
 * by `gg infer`, a program run after gg-force-and-run forced it, ... see what they would have seen), and the
 * first TLS client gg opens installs the trust Node would have had (`trustExtraCaCerts`): its bundled roots plus
 * the file's certificates, built once, for every TLS connection of the process (the AWS SDK's own credential
 * clients too). A process started without the launcher (`node dist/bin/gg.js`, the library) keeps Node's own.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as Tls from 'node:tls';

/** Where the launcher moves NODE_EXTRA_CA_CERTS to. */
export const MOVED_EXTRA_CA_CERTS = 'GG_TS_NODE_EXTRA_CA_CERTS';

/** The moved file, kept on the process (the loader and the program are two bundles, each its own module). */
const MOVED = Symbol.for('gg-ts.moved-extra-ca-certs');
const INSTALLED = Symbol.for('gg-ts.extra-ca-certs-installed');
type Marks = { [MOVED]?: string; [INSTALLED]?: boolean };

/**
 * First thing a program does: NODE_EXTRA_CA_CERTS goes back into the environment children inherit, and the file
 * is remembered for `trustExtraCaCerts`. A no-op unless the launcher moved it.
 */
export function adoptExtraCaCerts(env: NodeJS.ProcessEnv = process.env): void {
  const moved = env[MOVED_EXTRA_CA_CERTS];
  if (moved === undefined) return;
  delete env[MOVED_EXTRA_CA_CERTS];
  if (moved === '' || env['NODE_EXTRA_CA_CERTS'] !== undefined) return; // Node read it itself
  env['NODE_EXTRA_CA_CERTS'] = moved;
  (globalThis as Marks)[MOVED] = moved;
}

/** The options of tls.createSecureContext that change what a context is; a context without any is shareable. */
const CONTEXT_OPTIONS = [
  'ca',
  'cert',
  'key',
  'pfx',
  'passphrase',
  'crl',
  'ciphers',
  'sigalgs',
  'ecdhCurve',
  'dhparam',
  'honorCipherOrder',
  'secureProtocol',
  'secureOptions',
  'minVersion',
  'maxVersion',
  'privateKeyEngine',
  'privateKeyIdentifier',
  'clientCertEngine',
  'ticketKeys',
  'sessionTimeout',
  'sessionIdContext',
] as const;

/**
 * Before gg's first TLS connection: when the launcher moved NODE_EXTRA_CA_CERTS, every secure context the process
 * makes without its own `ca` trusts Node's bundled roots plus that file, as Node would have (a context given a
 * `ca` trusts only it, as in Node). The default context is made once and shared (Node makes one per
 * connection, cheap there because its root store is shared; ours is built from PEM text, ~50 ms). A file that
 * cannot be read is a warning and the roots alone, as in Node.
 */
export function trustExtraCaCerts(): void {
  const marks = globalThis as Marks;
  const file = marks[MOVED];
  if (file === undefined || marks[INSTALLED]) return;
  marks[INSTALLED] = true;
  // Loaded here, not imported: the module is part of every program's start-up, which must not load TLS.
  const tls = createRequire(import.meta.url)('node:tls') as typeof Tls;
  let extra: string[];
  try {
    // The file's certificates that Node does not bundle (the system bundle repeats most: half the build time).
    const bundled = new Set(tls.rootCertificates.map((c) => c.replace(/\s+/g, '')));
    const pems = fs
      .readFileSync(file, 'latin1')
      .match(/-----BEGIN (?:TRUSTED )?CERTIFICATE-----[^-]+-----END (?:TRUSTED )?CERTIFICATE-----/g);
    if (!pems) throw new Error('no certificate found in it');
    extra = pems.filter((c) => !bundled.has(c.replace(/\s+/g, '')));
  } catch (e) {
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}`);
    return;
  }
  const create = tls.createSecureContext;
  let shared: Tls.SecureContext | undefined;
  tls.createSecureContext = (options?: Tls.SecureContextOptions) => {
    if (options?.ca !== undefined) return create(options);
    const ca = [...tls.rootCertificates, ...extra];
    const o = options as Record<string, unknown> | undefined;
    if (CONTEXT_OPTIONS.some((k) => o?.[k] !== undefined)) return create({ ...options, ca });
    return (shared ??= create({ ca }));
  };
}
