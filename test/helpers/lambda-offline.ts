/**
 * A real local server of the Lambda Invoke API running the real handler: serverless-offline 13 (with
 * serverless 3), installed in test/lambda-offline (its own package.json, kept out of gg's dependencies:
 * `npm ci --prefix test/lambda-offline`). It serves POST /2015-03-31/functions/NAME/invocations for
 * @aws-sdk/client-lambda, runs handlers in worker threads, reports a thrown error as an Unhandled function
 * error, enforces the function timeout, and answers 404 ResourceNotFoundException for unknown functions.
 * The service directory is the deployment zip (gg lambda package), unzipped, plus the fault-injecting
 * wrapper test/fixtures/lambda/faults.mjs. Throttling (429) is injected by `startThrottlingProxy` in front.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { REPO, tempDir } from './cli.js';
import { writeZipTo } from './lambda-package.js';
import { freePort } from './servers.js';

const OFFLINE = path.join(REPO, 'test/lambda-offline/node_modules');
export const SERVICE = 'gg-ts-test';

export interface OfflineFunction {
  /** Name in serverless.yml; exposed to the Invoke API as gg-ts-test-dev-NAME. */
  name: string;
  handler: string;
  timeoutS: number;
}

export interface OfflineLambda {
  endpoint: string;
  dir: string;
  functionName(name: string): string;
  stop(): Promise<void>;
}

export async function startOfflineLambda(functions: OfflineFunction[], env: Record<string, string>): Promise<OfflineLambda> {
  const sls = path.join(OFFLINE, 'serverless/bin/serverless.js');
  if (!fs.existsSync(sls) || !fs.existsSync(path.join(OFFLINE, 'serverless-offline'))) {
    throw new Error('serverless-offline is not installed: run npm ci --prefix test/lambda-offline (CI does)');
  }
  const dir = tempDir('gg-lambda-offline-');
  writeZipTo(dir);
  fs.copyFileSync(path.join(REPO, 'test/fixtures/lambda/faults.mjs'), path.join(dir, 'faults.mjs'));
  fs.symlinkSync(path.join(OFFLINE, 'serverless-offline'), path.join(dir, 'node_modules/serverless-offline'));
  const lambdaPort = await freePort();
  const httpPort = await freePort();
  fs.writeFileSync(path.join(dir, 'serverless.yml'), [
    `service: ${SERVICE}`,
    "frameworkVersion: '3'",
    'provider:',
    '  name: aws',
    '  runtime: nodejs20.x',
    'plugins:',
    '  - serverless-offline',
    'custom:',
    '  serverless-offline:',
    `    lambdaPort: ${lambdaPort}`,
    `    httpPort: ${httpPort}`,
    '    host: 127.0.0.1',
    'functions:',
    ...functions.flatMap((f) => [`  ${f.name}:`, `    handler: ${f.handler}`, `    timeout: ${f.timeoutS}`]),
    '',
  ].join('\n'));
  // Through a shell that stops the server when its stdin closes: on stop(), and when the test process dies.
  const child: ChildProcess = spawn('sh', ['-c', `exec 3<&0; "${process.execPath}" "${sls}" offline start </dev/null & p=$!; (cat <&3 >/dev/null; kill $p 2>/dev/null) & wait $p`], {
    cwd: dir,
    env: { ...process.env, ...env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', SLS_INTERACTIVE_SETUP_DISABLE: '1', SLS_DEPRECATION_DISABLE: '*' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serverless-offline did not start within 120 s:\n${out}`)), 120_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/listening on http:\/\/127\.0\.0\.1:\d+/.test(out) && out.includes('exposed for local invocation')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serverless-offline exited (${code}):\n${out}`));
    });
  });
  child.removeAllListeners('exit');
  return {
    endpoint: `http://127.0.0.1:${lambdaPort}`,
    dir,
    functionName: (name) => `${SERVICE}-dev-${name}`,
    async stop() {
      const exited = child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
      child.stdin!.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ThrottlingProxy {
  endpoint: string;
  /** Requests answered 429 so far. */
  throttled(): number;
  stop(): Promise<void>;
}

/** Forwards to `target`, answering every `every`-th invocation with Lambda's 429 TooManyRequestsException. */
export async function startThrottlingProxy(target: string, every: number): Promise<ThrottlingProxy> {
  let n = 0;
  let throttled = 0;
  const server = http.createServer((req, res) => {
    n++;
    if (every > 0 && n % every === 0) {
      throttled++;
      req.resume();
      res.writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException' });
      res.end(JSON.stringify({ Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded', Type: 'User', message: 'Rate Exceeded.' }));
      return;
    }
    const url = new URL(req.url ?? '/', target);
    const fwd = http.request(url, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    fwd.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(fwd);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    throttled: () => throttled,
    stop: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
