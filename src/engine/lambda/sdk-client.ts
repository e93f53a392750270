/**
 * The InvokeClient over @aws-sdk/client-lambda (loaded only when the Lambda engine is used). The SDK's own
 * retries are off: the engine decides what a throttle, a function error or a lost answer means.
 * Credentials and region come from the SDK's default chain (environment, profile, SSO, instance role).
 */
import { GgError } from '../../errors.js';
import type { InvokeClient, InvokeOutcome } from './lambda-engine.js';
import { trustExtraCaCerts } from '../../store/tls-trust.js';

export interface LambdaEndpoint {
  region?: string;
  /** Another Invoke API server (a local one for tests: http://127.0.0.1:PORT). */
  endpoint?: string;
}

/** "Billed Duration: 1234 ms" from the REPORT line of the log tail Lambda returns with LogType Tail. */
export function billedMsFromLog(logResult: string | undefined): number | undefined {
  if (!logResult) return undefined;
  const m = /Billed Duration: (\d+) ms/.exec(Buffer.from(logResult, 'base64').toString('utf8'));
  return m ? Number(m[1]) : undefined;
}

export function configError(e: unknown, functionName: string): GgError | undefined {
  const name = (e as { name?: string }).name ?? '';
  const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (name === 'ResourceNotFoundException' || status === 404) {
    return new GgError(
      'GG_E_LAMBDA_CONFIG',
      `the Lambda function '${functionName}' does not exist (in this region/account)`,
      { hint: 'deploy it with gg lambda deploy, or check --lambda-region; gg lambda doctor says what is missing' },
    );
  }
  if (
    /AccessDenied|UnrecognizedClient|InvalidSignature|ExpiredToken|CredentialsProviderError/.test(name) ||
    status === 403
  ) {
    return new GgError('GG_E_LAMBDA_CONFIG', `not allowed to invoke '${functionName}': ${(e as Error).message}`, {
      hint: 'the caller needs lambda:InvokeFunction on the function; gg lambda doctor checks the credentials',
    });
  }
  return undefined;
}

export async function sdkInvokeClient(o: LambdaEndpoint = {}): Promise<InvokeClient> {
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
  trustExtraCaCerts();
  const client = new LambdaClient({
    maxAttempts: 1,
    ...(o.region ? { region: o.region } : {}),
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
  });
  return {
    async invoke(functionName: string, payload: Uint8Array, abort: AbortSignal): Promise<InvokeOutcome> {
      try {
        const r = await client.send(
          new InvokeCommand({ FunctionName: functionName, Payload: payload, LogType: 'Tail' }),
          { abortSignal: abort },
        );
        const billedMs = billedMsFromLog(r.LogResult);
        const body = r.Payload ?? new Uint8Array();
        if (r.FunctionError) {
          let message = Buffer.from(body).toString('utf8').slice(0, 2000);
          try {
            const j = JSON.parse(message) as { errorType?: string; errorMessage?: string };
            message = `${j.errorType ?? r.FunctionError}: ${j.errorMessage ?? ''}`;
          } catch {
            // not JSON: keep the text
          }
          return { kind: 'function-error', message, ...(billedMs !== undefined ? { billedMs } : {}) };
        }
        return { kind: 'ok', payload: body, ...(billedMs !== undefined ? { billedMs } : {}) };
      } catch (e) {
        const name = (e as { name?: string }).name ?? '';
        const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (name === 'TooManyRequestsException' || status === 429)
          return { kind: 'throttled', message: (e as Error).message };
        if (name === 'RequestTooLargeException' || status === 413)
          return { kind: 'too-large', message: `the request is too large for Lambda (${(e as Error).message})` };
        const config = configError(e, functionName);
        if (config) throw config;
        throw new GgError('GG_E_LAMBDA', `invoking ${functionName}: ${(e as Error).message}`, {
          retryable: true,
          cause: e,
        });
      }
    },
    destroy: () => client.destroy(),
  };
}
