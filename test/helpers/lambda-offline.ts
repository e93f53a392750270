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
  env?: Record<string, string>;
}

export interface OfflineLambda {
  endpoint: string;
  dir: string;
  functionName(name: string): string;
  stop(): Promise<void>;
}

export async function startOfflineLambda(
  functions: OfflineFunction[],
  env: Record<string, string>,
): Promise<OfflineLambda> {
  const sls = path.join(OFFLINE, 'serverless/bin/serverless.js');
  if (!fs.existsSync(sls) || !fs.existsSync(path.join(OFFLINE, 'serverless-offline'))) {
    throw new Error('serverless-offline is not installed: run npm ci --prefix test/lambda-offline (CI does)');
  }
  const dir = tempDir('gg-lambda-offline-');
  writeZipTo(dir);
  fs.copyFileSync(path.join(REPO, 'test/fixtures/lambda/faults.mjs'), path.join(dir, 'faults.mjs'));
  fs.symlinkSync(path.join(OFFLINE, 'serverless-offline'), path.join(dir, 'node_modules/serverless-offline'));
  // The function's environment, as on Lambda: what serverless.yml declares (the function's /tmp gets its own
  // directory rather than the host's /tmp shared with everything else).
  const functionEnv = { ...env, GG_LAMBDA_TMP: fs.mkdtempSync(path.join(dir, '.tmp-')) };
  const lambdaPort = await freePort();
  const httpPort = await freePort();
  fs.writeFileSync(
    path.join(dir, 'serverless.yml'),
    [
      `service: ${SERVICE}`,
      "frameworkVersion: '3'",
      'provider:',
      '  name: aws',
      '  runtime: nodejs20.x',
      '  environment:',
      ...Object.entries(functionEnv).map(([k, v]) => `    ${k}: '${v}'`),
      'plugins:',
      '  - serverless-offline',
      'custom:',
      '  serverless-offline:',
      `    lambdaPort: ${lambdaPort}`,
      `    httpPort: ${httpPort}`,
      '    host: 127.0.0.1',
      'functions:',
      ...functions.flatMap((f) => [
        `  ${f.name}:`,
        `    handler: ${f.handler}`,
        `    timeout: ${f.timeoutS}`,
        ...(f.env ? ['    environment:', ...Object.entries(f.env).map(([k, v]) => `      ${k}: '${v}'`)] : []),
      ]),
      '',
    ].join('\n'),
  );
  // Through a shell that stops the server when its stdin closes: on stop(), and when the test process dies.
  const child: ChildProcess = spawn(
    'sh',
    [
      '-c',
      `exec 3<&0; "${process.execPath}" "${sls}" offline start </dev/null & p=$!; (cat <&3 >/dev/null; kill $p 2>/dev/null) & wait $p`,
    ],
    {
      cwd: dir,
      env: {
        ...process.env,
        ...env,
        SLS_TELEMETRY_DISABLED: '1',
        SLS_NOTIFICATIONS_MODE: 'off',
        SLS_INTERACTIVE_SETUP_DISABLE: '1',
        SLS_DEPRECATION_DISABLE: '*',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`serverless-offline did not start within 120 s:\n${out}`)),
      120_000,
    );
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
  throttled(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Forwards to `target`, answering every `every`-th invocation with Lambda's 429 TooManyRequestsException
 * (test/fixtures/lambda/throttling-proxy.mjs, in a child process).
 */
export async function startThrottlingProxy(target: string, every: number): Promise<ThrottlingProxy> {
  const child = spawn(
    process.execPath,
    [path.join(REPO, 'test/fixtures/lambda/throttling-proxy.mjs'), target, String(every)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`the throttling proxy exited (${code})`)));
  });
  child.removeAllListeners('exit');
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    throttled: async () => Number(await (await fetch(`${endpoint}/__throttled`)).text()),
    async stop() {
      const exited = child.exitCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
      child.stdin.end();
      await exited;
    },
  };
}
