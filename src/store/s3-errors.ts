/**
 * What a failed S3 request means to the user: a GgError with a stable code (no credentials, access refused, no
 * such bucket, wrong region, unreachable) and a hint, from the AWS SDK's error shapes.
 */
import { GgError } from '../errors.js';

/** The facts about the store an error message names. */
export interface S3ErrorContext {
  description: string;
  bucket: string;
  region: string;
  endpoint?: string | undefined;
  /** The configuration check's whole budget (named when it runs out). */
  checkTimeoutMs: number;
}

interface AwsErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export function errorFacts(e: unknown): {
  name: string;
  status: number | undefined;
  code: string | undefined;
  message: string;
} {
  const x = (e ?? {}) as AwsErrorShape;
  return {
    name: x.name ?? '',
    status: x.$metadata?.httpStatusCode,
    code: x.code ?? x.Code,
    message: x.message ?? String(e),
  };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

export function isNotFound(e: unknown): boolean {
  const f = errorFacts(e);
  return f.name === 'NoSuchKey' || f.name === 'NotFound' || (f.status === 404 && f.name !== 'NoSuchBucket');
}

/** Configuration problems (no bucket, no credentials, access refused) rather than I/O worth retrying. */
export function isConfigurationError(e: unknown): boolean {
  const f = errorFacts(e);
  return f.name === 'NoSuchBucket' || f.name === 'CredentialsProviderError' || f.status === 403;
}

/** Without s3:ListBucket, S3 answers 403 for every missing object: nothing would work. */
export function listBucketDenied(bucket: string, e: unknown): GgError {
  return new GgError(
    'GG_E_STORAGE_AUTH',
    `the credentials may not list bucket '${bucket}': S3 then answers 403 for every missing object`,
    {
      hint: 'grant s3:ListBucket on the bucket (with GetObject, PutObject, DeleteObject, AbortMultipartUpload)',
      cause: e,
    },
  );
}

export function classifyS3Error(e: unknown, at: S3ErrorContext): GgError {
  const f = errorFacts(e);
  const where = at.endpoint ?? `AWS S3 (${at.region})`;
  if (f.name === 'CredentialsProviderError' || /Could not load credentials|credential/i.test(f.name)) {
    return new GgError('GG_E_STORAGE_CREDENTIALS', `no credentials for ${at.description}: ${f.message}`, {
      hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or run on a machine with an instance role); for GCS use HMAC keys in the same variables',
      cause: e,
    });
  }
  if (
    f.status === 403 ||
    [
      'InvalidAccessKeyId',
      'SignatureDoesNotMatch',
      'AccessDenied',
      'Forbidden',
      'ExpiredToken',
      'InvalidToken',
    ].includes(f.name)
  ) {
    return new GgError(
      'GG_E_STORAGE_AUTH',
      `${where} refused access to bucket '${at.bucket}' (${f.name || 'HTTP 403'})`,
      {
        hint: 'check the access key and secret (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and that they may read and write this bucket (s3:GetObject, s3:PutObject, s3:ListBucket, s3:DeleteObject)',
        cause: e,
      },
    );
  }
  if (f.status === 404 || f.name === 'NoSuchBucket' || f.name === 'NotFound') {
    return new GgError('GG_E_STORAGE_BUCKET', `bucket '${at.bucket}' does not exist at ${where}`, {
      hint: `create it first (e.g. aws s3 mb s3://${at.bucket}) or fix the bucket name in the storage URI`,
      cause: e,
    });
  }
  if (f.status === 301 || f.name === 'PermanentRedirect') {
    return new GgError('GG_E_STORAGE_URI', `bucket '${at.bucket}' is not in region ${at.region}`, {
      hint: 'add ?region=THE-BUCKET-REGION to the storage URI',
      cause: e,
    });
  }
  if (f.name === 'AbortError' || f.name === 'TimeoutError') {
    return new GgError('GG_E_STORAGE_UNREACHABLE', `no answer from ${where} within ${at.checkTimeoutMs / 1000} s`, {
      hint: 'check the endpoint in the storage URI (is it an S3-compatible service?) and network / proxy settings',
      retryable: true,
      cause: e,
    });
  }
  if ((f.code !== undefined && NETWORK_CODES.has(f.code)) || f.status === undefined) {
    return new GgError('GG_E_STORAGE_UNREACHABLE', `cannot reach ${where}: ${f.code ?? f.name}: ${f.message}`, {
      hint: 'check the endpoint (and network / proxy settings); for S3-compatible servers pass ?endpoint=http://host:port',
      retryable: true,
      cause: e,
    });
  }
  return new GgError(
    'GG_E_STORAGE_UNREACHABLE',
    `${where} answered HTTP ${f.status} (${f.name}) for bucket '${at.bucket}': ${f.message}`,
    {
      hint: 'check the endpoint in the storage URI; is it an S3-compatible service?',
      cause: e,
    },
  );
}
