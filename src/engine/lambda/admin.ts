/**
 * `gg lambda deploy` and `gg lambda doctor` as library calls, over @aws-sdk/client-lambda (loaded on use).
 * deploy: create the function (a role is needed the first time) or update its code and configuration, and wait
 * until it is ready. doctor: each thing the engine needs, checked on its own, with what to do when missing.
 */
import { GgError, isGgError } from '../../errors.js';
import { openRemoteStore } from '../../store/open-store.js';
import { HANDLER, RUNTIME } from './package.js';
import { PROTOCOL_VERSION, type ProbeResponse } from './protocol.js';
import { configError, type LambdaEndpoint } from './sdk-client.js';
import { trustExtraCaCerts } from '../../store/tls-trust.js';

export interface DeployOptions extends LambdaEndpoint {
  functionName: string;
  /** IAM role ARN the function runs as (required to create it; changes it on update). */
  role?: string;
  memoryMb: number;
  tmpMb: number;
  timeoutS: number;
  zip: Buffer;
}

export interface DeployReport {
  created: boolean;
  arn: string;
  codeSha256: string;
}

async function client(o: LambdaEndpoint) {
  // gg supports Node 20; the SDK's nag about Node 22 is not the user's concern (as in s3-store.ts).
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const sdk = await import('@aws-sdk/client-lambda');
  trustExtraCaCerts();
  return {
    sdk,
    c: new sdk.LambdaClient({
      ...(o.region ? { region: o.region } : {}),
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    }),
  };
}

function asGgError(e: unknown, functionName: string, what: string): GgError {
  if (isGgError(e)) return e;
  const message = (e as Error).message;
  if (/Region is missing/i.test(message))
    return new GgError('GG_E_LAMBDA_CONFIG', `${what}: no AWS region`, {
      hint: 'pass --region, or set AWS_REGION (or a profile with a region)',
    });
  return configError(e, functionName) ?? new GgError('GG_E_LAMBDA', `${what}: ${message}`, { cause: e });
}

export async function deployFunction(o: DeployOptions): Promise<DeployReport> {
  if (o.tmpMb < 512 || o.tmpMb > 10240)
    throw new GgError('GG_E_USAGE', `--tmp-size must be 512 to 10240 MB, got ${o.tmpMb}`);
  if (o.memoryMb < 128 || o.memoryMb > 10240)
    throw new GgError('GG_E_USAGE', `--memory must be 128 to 10240 MB, got ${o.memoryMb}`);
  if (o.timeoutS < 1 || o.timeoutS > 900)
    throw new GgError('GG_E_USAGE', `--timeout must be 1 to 900 s, got ${o.timeoutS}`);
  const { sdk, c } = await client(o);
  const config = {
    FunctionName: o.functionName,
    Handler: HANDLER,
    Runtime: RUNTIME,
    MemorySize: o.memoryMb,
    Timeout: o.timeoutS,
    EphemeralStorage: { Size: o.tmpMb },
    Environment: { Variables: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } },
  } as const;
  const waiter = { client: c, maxWaitTime: 300 };
  try {
    let exists = true;
    try {
      await c.send(new sdk.GetFunctionConfigurationCommand({ FunctionName: o.functionName }));
    } catch (e) {
      if ((e as { name?: string }).name !== 'ResourceNotFoundException') throw e;
      exists = false;
    }
    if (!exists) {
      if (!o.role)
        throw new GgError('GG_E_USAGE', `function ${o.functionName} does not exist yet: creating it needs --role ARN`, {
          hint: 'a role Lambda can assume, allowed s3:GetObject/PutObject/ListBucket on the bucket (see docs/LAMBDA.md)',
        });
      const r = await c.send(
        new sdk.CreateFunctionCommand({ ...config, Role: o.role, Architectures: ['x86_64'], Code: { ZipFile: o.zip } }),
      );
      await sdk.waitUntilFunctionActiveV2(waiter, { FunctionName: o.functionName });
      return { created: true, arn: r.FunctionArn ?? '', codeSha256: r.CodeSha256 ?? '' };
    }
    const code = await c.send(
      new sdk.UpdateFunctionCodeCommand({ FunctionName: o.functionName, ZipFile: o.zip, Architectures: ['x86_64'] }),
    );
    await sdk.waitUntilFunctionUpdatedV2(waiter, { FunctionName: o.functionName });
    await c.send(new sdk.UpdateFunctionConfigurationCommand({ ...config, ...(o.role ? { Role: o.role } : {}) }));
    await sdk.waitUntilFunctionUpdatedV2(waiter, { FunctionName: o.functionName });
    return { created: false, arn: code.FunctionArn ?? '', codeSha256: code.CodeSha256 ?? '' };
  } catch (e) {
    throw asGgError(e, o.functionName, `deploying ${o.functionName}`);
  } finally {
    c.destroy();
  }
}

export interface DoctorCheck {
  what: string;
  ok: boolean;
  detail: string;
  hint?: string;
}

export interface DoctorOptions extends LambdaEndpoint {
  functionName: string;
  storageUri?: string;
}

/** Every check runs, whatever the others say: the report lists all that is missing at once. */
export async function lambdaDoctor(o: DoctorOptions): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const { sdk, c } = await client(o);
  try {
    try {
      const creds = await c.config.credentials();
      checks.push({ what: 'credentials', ok: true, detail: `access key ${creds.accessKeyId.slice(0, 4)}…` });
    } catch (e) {
      checks.push({
        what: 'credentials',
        ok: false,
        detail: (e as Error).message,
        hint: 'configure AWS credentials: aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_REGION)',
      });
    }
    try {
      checks.push({ what: 'region', ok: true, detail: await c.config.region() });
    } catch {
      checks.push({
        what: 'region',
        ok: false,
        detail: 'no AWS region configured',
        hint: 'pass --region, or set AWS_REGION',
      });
    }
    try {
      const f = await c.send(new sdk.GetFunctionConfigurationCommand({ FunctionName: o.functionName }));
      const problems: string[] = [];
      if (f.Handler !== HANDLER) problems.push(`handler is ${f.Handler}, not ${HANDLER}`);
      if (!f.Runtime?.startsWith('nodejs') || Number(/\d+/.exec(f.Runtime)?.[0] ?? 0) < 20)
        problems.push(`runtime is ${f.Runtime}, not ${RUNTIME} or later`);
      if (f.Architectures && !f.Architectures.includes('x86_64'))
        problems.push(
          `architecture is ${f.Architectures.join(',')}, not x86_64 (the toolchain and libfakechroot are x86-64)`,
        );
      if (f.State && f.State !== 'Active')
        problems.push(`state is ${f.State}${f.StateReason ? ` (${f.StateReason})` : ''}`);
      checks.push({
        what: 'function',
        ok: problems.length === 0,
        detail: problems.length
          ? problems.join('; ')
          : `${f.FunctionName}: ${f.Runtime}, ${f.MemorySize} MB, /tmp ${f.EphemeralStorage?.Size ?? 512} MB, timeout ${f.Timeout} s`,
        ...(problems.length ? { hint: 'gg lambda deploy --function NAME updates it' } : {}),
      });
      checks.push({
        what: 'role',
        ok: Boolean(f.Role),
        detail: f.Role ? `the function runs as ${f.Role}` : 'no role',
        ...(f.Role ? {} : { hint: 'gg lambda deploy --role ARN' }),
      });
    } catch (e) {
      const err = asGgError(e, o.functionName, "reading the function's configuration");
      checks.push({ what: 'function', ok: false, detail: err.message, ...(err.hint ? { hint: err.hint } : {}) });
    }
    if (o.storageUri) {
      try {
        const remote = await openRemoteStore(o.storageUri);
        try {
          await remote.check();
          checks.push({
            what: 'bucket (from here)',
            ok: true,
            detail: `${remote.description}: write, list and read work`,
          });
        } finally {
          await remote.close();
        }
      } catch (e) {
        const err = isGgError(e) ? e : new GgError('GG_E_STORAGE_IO', (e as Error).message);
        checks.push({
          what: 'bucket (from here)',
          ok: false,
          detail: `${err.code}: ${err.message}`,
          ...(err.hint ? { hint: err.hint } : {}),
        });
      }
      try {
        const r = await c.send(
          new sdk.InvokeCommand({
            FunctionName: o.functionName,
            Payload: Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, probe: true, storage: o.storageUri })),
          }),
        );
        const body = Buffer.from(r.Payload ?? new Uint8Array()).toString('utf8');
        if (r.FunctionError)
          throw new GgError('GG_E_LAMBDA', `the function failed: ${body.slice(0, 500)}`, {
            hint: 'its CloudWatch log has the details; gg lambda deploy installs the current code',
          });
        const p = (JSON.parse(body) as Partial<ProbeResponse>).probe;
        if (!p)
          throw new GgError('GG_E_LAMBDA', `the function does not answer probes (${body.slice(0, 200)})`, {
            hint: "it is not gg-ts's function, or an old one: gg lambda deploy",
          });
        checks.push({
          what: 'bucket (from the function, as its role)',
          ok: p.storage.ok,
          detail: `${p.storage.code ? `${p.storage.code}: ` : ''}${p.storage.detail}`,
          ...(p.storage.ok
            ? {}
            : { hint: p.storage.hint ?? 'allow the role s3:GetObject, s3:PutObject and s3:ListBucket on the bucket' }),
        });
        checks.push({
          what: 'executor (in the function)',
          ok: p.executor.ok,
          detail: `${p.executor.detail}; /tmp holds ${(p.tmpBytes / 1024 ** 2).toFixed(0)} MiB`,
          ...(p.executor.ok ? {} : { hint: 'redeploy with gg lambda deploy (the zip carries libfakechroot)' }),
        });
      } catch (e) {
        const err = asGgError(e, o.functionName, 'invoking the function');
        checks.push({ what: 'invoke', ok: false, detail: err.message, ...(err.hint ? { hint: err.hint } : {}) });
      }
    } else {
      checks.push({
        what: 'bucket',
        ok: false,
        detail: 'not checked: no --storage given',
        hint: 'gg lambda doctor --function NAME --storage s3://bucket/prefix',
      });
    }
  } finally {
    c.destroy();
  }
  return checks;
}
