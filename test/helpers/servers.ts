/**
 * Real storage servers for tests and benchmarks, on 127.0.0.1 ephemeral ports, each in its own child process
 * (so a server's memory never counts against the process under test). `stop()` kills the child and waits for it.
 *   startRedis({ password? })  -> redis-server (the Debian package) with no persistence
 *   startS3()                  -> s3rver (npm) on a temp directory, with one bucket created
 * S3 credentials: s3rver accepts the key pair S3RVER/S3RVER; `s3Env` holds them in the AWS_* variables the SDK's
 * default chain reads, and `useS3Credentials()` installs them in process.env.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RunningServer {
  uri: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

export interface RunningS3 extends RunningServer {
  bucket: string;
  endpoint: string;
  dataDir: string;
}

export const S3RVER_KEY = 'S3RVER';
export const S3RVER_SECRET = 'S3RVER';

export const s3Env: Record<string, string> = {
  AWS_ACCESS_KEY_ID: S3RVER_KEY,
  AWS_SECRET_ACCESS_KEY: S3RVER_SECRET,
  AWS_REGION: 'us-east-1',
  // never wait on the EC2 metadata service in tests
  AWS_EC2_METADATA_DISABLED: 'true',
  // the SDK nags on Node < 22 (gg supports Node 20)
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export function useS3Credentials(): void {
  Object.assign(process.env, s3Env);
}

/** A port nobody listens on right now (the OS picks it; closed again before we return). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Close the child's stdin (its signal to stop, see the wrappers), then wait for it; SIGKILL after 5 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  const exited = waitExit(child);
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Resolve once `pattern` appears in the child's stdout; reject if it exits first or takes too long. */
function waitForOutput(
  child: ChildProcess,
  pattern: RegExp,
  what: string,
  timeoutMs = 15_000,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => done(new Error(`${what} did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = out.match(pattern);
      if (m) done(undefined, m);
    };
    const onExit = (code: number | null): void =>
      done(new Error(`${what} exited (${code}) before it was ready:\n${out}`));
    function done(err: Error | undefined, m?: RegExpMatchArray): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m as RegExpMatchArray);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', onExit);
  });
}

export interface RedisServerOptions {
  password?: string;
  /** Serve TLS only (redis-server --tls-port; the uri is rediss://): the server's certificate and key files. */
  tls?: { cert: string; key: string };
}

export async function startRedis(opts: RedisServerOptions = {}): Promise<RunningServer> {
  let lastError: unknown;
  // The port is free when we pick it but may be taken before redis binds it: try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = [
      ...(opts.tls
        ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.cert, '--tls-key-file', opts.tls.key]
        : ['--port', String(port)]),
      ...(opts.tls ? ['--tls-auth-clients', 'no'] : []),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ];
    if (opts.password !== undefined) args.push('--requirepass', opts.password);
    // Through a shell that stops redis-server when its stdin closes: on stop(), and also when this process dies
    // without stopping it, so a crashed test run leaves no server behind. (Background jobs of a non-interactive
    // shell read /dev/null, hence stdin kept on fd 3 for `cat`.)
    const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn(
      'sh',
      ['-c', `exec 3<&0; redis-server ${quoted} & p=$!; (cat <&3 >/dev/null; kill $p 2>/dev/null) & wait $p`],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
    try {
      // With --loglevel warning redis prints nothing on success: poll the port instead.
      await Promise.race([spawnError, waitForPort(port, child)]);
    } catch (e) {
      lastError = e;
      await stopChild(child);
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || child.exitCode === 127) {
        throw new Error('redis-server is not installed (apt-get install redis-server)');
      }
      continue;
    }
    child.stdout?.resume();
    child.stderr?.resume();
    const auth = opts.password !== undefined ? `:${encodeURIComponent(opts.password)}@` : '';
    return {
      uri: `${opts.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}/0`,
      host: '127.0.0.1',
      port,
      stop: () => stopChild(child),
    };
  }
  throw lastError instanceof Error ? lastError : new Error('could not start redis-server');
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} (port ${port} taken?)`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface S3ServerOptions {
  bucket?: string;
}

export async function startS3(opts: S3ServerOptions = {}): Promise<RunningS3> {
  const bucket = opts.bucket ?? 'gg-test';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-s3rver-'));
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 's3rver-child.js');
  // s3rver encrypts ListObjectsV2 continuation tokens with a cipher OpenSSL 3 only has in its legacy provider.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', script, dataDir, bucket], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let port: number;
  try {
    const m = await waitForOutput(child, /listening on [^:\s]+:(\d+)/, 's3rver');
    port = Number(m[1]);
  } catch (e) {
    await stopChild(child);
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  child.stdout?.resume();
  child.stderr?.resume();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    uri: `s3://${bucket}?region=us-east-1&endpoint=${encodeURIComponent(endpoint)}`,
    host: '127.0.0.1',
    port,
    bucket,
    endpoint,
    dataDir,
    stop: async () => {
      await stopChild(child);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
