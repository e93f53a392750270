/** Where an S3 store is: `s3://bucket[/prefix][?region=R&endpoint=URL]` or `gs://bucket[/prefix]`, parsed and checked. */
import { GgError } from '../errors.js';

export const GCS_ENDPOINT = 'https://storage.googleapis.com';

/** What a storage URI says about a bucket. */
export interface S3Location {
  bucket: string;
  /** Key prefix, '' or ending in '/'. */
  prefix: string;
  region: string;
  /** Any S3-compatible service; implies path-style addressing. */
  endpoint?: string;
}

/**
 * `s3://bucket[/prefix][?region=R&endpoint=URL]`, or `gs://bucket[/prefix]` (Google Cloud Storage through its
 * S3-compatible XML API; HMAC keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
 */
export function parseS3Uri(uri: string, env: NodeJS.ProcessEnv = process.env): S3Location {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw badS3Uri(uri, 'it is not a URI');
  }
  const gcs = url.protocol === 'gs:';
  if (url.protocol !== 's3:' && !gcs) throw badS3Uri(uri, 'the scheme is not s3:// or gs://');
  if (url.username || url.password) throw badS3Uri(uri, 'credentials do not belong in the URI');
  const bucket = url.hostname;
  if (!/^[a-z0-9][a-z0-9.\-_]{1,221}[a-z0-9]$/.test(bucket))
    throw badS3Uri(uri, `'${bucket}' is not a valid bucket name`);
  let prefix: string;
  try {
    prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  } catch {
    throw badS3Uri(uri, 'the prefix is not valid %-encoding');
  }
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  const opts: S3Location = {
    bucket,
    prefix,
    region: env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || (gcs ? 'auto' : 'us-east-1'),
  };
  if (gcs) opts.endpoint = GCS_ENDPOINT;
  for (const [key, value] of url.searchParams) {
    if (key === 'region') {
      if (!/^[a-z0-9-]+$/.test(value)) throw badS3Uri(uri, `'${value}' is not a region name`);
      opts.region = value;
    } else if (key === 'endpoint') {
      let ep: URL;
      try {
        ep = new URL(value);
      } catch {
        throw badS3Uri(uri, `the endpoint '${value}' is not a URL`);
      }
      if (ep.protocol !== 'http:' && ep.protocol !== 'https:')
        throw badS3Uri(uri, `the endpoint '${value}' is not http(s)://`);
      opts.endpoint = value.replace(/\/+$/, '');
    } else {
      throw badS3Uri(uri, `unknown parameter '${key}' (known: region, endpoint)`);
    }
  }
  return opts;
}

function badS3Uri(uri: string, why: string): GgError {
  return new GgError('GG_E_STORAGE_URI', `bad S3 storage URI '${uri}': ${why}`, {
    hint: 's3://BUCKET[/PREFIX][?region=REGION&endpoint=https://host:port], e.g. s3://my-gg-cache/builds?region=eu-west-1; gs://BUCKET for Google Cloud Storage',
  });
}
