/**
 * s3rver in a child process that lives exactly as long as its parent wants: it exits when its stdin closes, which
 * happens on `stop()` and also when the parent dies without stopping it (no orphaned servers after a crash).
 * Prints `listening on 127.0.0.1:PORT` once the bucket exists.
 * Run as: node --openssl-legacy-provider dist/test/helpers/s3rver-child.js DIR BUCKET
 */
import { createRequire } from 'node:module';

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

const require = createRequire(import.meta.url);
// s3rver is CommonJS without type declarations: this is the slice of its API used here.
const S3rver = require('s3rver') as S3rverClass;

const [directory, bucket] = process.argv.slice(2);
if (!directory || !bucket) throw new Error('usage: s3rver-child DIR BUCKET');
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: [{ name: bucket, configs: [] }],
});
const { port } = await server.run();
process.stdout.write(`listening on 127.0.0.1:${port}\n`);
const quit = (): void => {
  void server.close().finally(() => process.exit(0));
};
process.stdin.on('end', quit);
process.stdin.on('error', quit);
process.stdin.resume();
process.on('SIGTERM', quit);
