/** gg lambda package | deploy | doctor: argv -> the library calls in src/engine/lambda. */
import type { Command } from 'commander';
import { lambdaDoctor, deployFunction } from '../../engine/lambda/admin.js';
import { LAMBDA_DEFAULTS } from '../../engine/lambda/defaults.js';
import { buildPackage, HANDLER, RUNTIME, writePackage } from '../../engine/lambda/package.js';
import { GgError } from '../../errors.js';
import { action, parseIntOption } from '../errors.js';
import { storageUriFromFlags } from '../sandbox-flags.js';

interface EndpointOpts {
  function: string;
  region?: string;
  endpoint?: string;
}

function endpoint(o: EndpointOpts): { region?: string; endpoint?: string } {
  return { ...(o.region ? { region: o.region } : {}), ...(o.endpoint ? { endpoint: o.endpoint } : {}) };
}

export function registerLambda(program: Command): void {
  const lambda = program
    .command('lambda')
    .description('the AWS Lambda engine: package, deploy and check the gg function');

  lambda
    .command('package')
    .description(`write the deployment zip (runtime ${RUNTIME}, handler ${HANDLER}) without deploying`)
    .option('-o, --output <file>', 'where to write it', 'gg-function.zip')
    .addHelpText('after', '\nExample:\n  gg lambda package -o gg-function.zip')
    .action(
      action((o: { output: string }) => {
        const r = writePackage(o.output);
        process.stdout.write(
          `${o.output}: ${r.files} files, ${(r.zip.length / 1024).toFixed(0)} KiB (${(r.unzippedBytes / 1024).toFixed(0)} KiB unzipped)\n`,
        );
      }),
    );

  lambda
    .command('deploy')
    .description('create or update the gg function from this gg-ts')
    .requiredOption('--function <name>', 'function name')
    .option('--role <arn>', 'IAM role the function runs as (needed to create it)')
    .option('--region <region>', "AWS region (default: the AWS SDK's)")
    .option('--endpoint <url>', 'another Lambda API endpoint')
    .option('--memory <MB>', 'memory (more memory = more CPU)', parseIntOption('--memory'), LAMBDA_DEFAULTS.memoryMb)
    .option(
      '--tmp-size <MB>',
      'ephemeral storage (/tmp), 512-10240',
      parseIntOption('--tmp-size'),
      LAMBDA_DEFAULTS.tmpMb,
    )
    .option('--timeout <s>', 'function timeout, 1-900', parseIntOption('--timeout'), LAMBDA_DEFAULTS.timeoutS)
    .addHelpText(
      'after',
      '\nExample:\n  gg lambda deploy --function gg-ts --role arn:aws:iam::123456789012:role/gg --region eu-west-1',
    )
    .action(
      action(async (o: EndpointOpts & { role?: string; memory: number; tmpSize: number; timeout: number }) => {
        const r = await deployFunction({
          functionName: o.function,
          ...endpoint(o),
          ...(o.role ? { role: o.role } : {}),
          memoryMb: o.memory,
          tmpMb: o.tmpSize,
          timeoutS: o.timeout,
          zip: buildPackage().zip,
        });
        process.stdout.write(
          `${r.created ? 'created' : 'updated'} ${r.arn || o.function} (code sha256 ${r.codeSha256})\n`,
        );
      }),
    );

  lambda
    .command('doctor')
    .description('check credentials, the function, its role and bucket access; say what is missing')
    .requiredOption('--function <name>', 'function name')
    .option('--region <region>', "AWS region (default: the AWS SDK's)")
    .option('--endpoint <url>', 'another Lambda API endpoint')
    .option('--storage <uri>', 'the store gg force will use (default: $GG_STORAGE_URI)')
    .option('--json', 'print the checks as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  gg lambda doctor --function gg-ts --storage s3://my-bucket/gg?region=eu-west-1',
    )
    .action(
      action(async (o: EndpointOpts & { storage?: string; json?: boolean }) => {
        const storageUri = storageUriFromFlags(o);
        const checks = await lambdaDoctor({
          functionName: o.function,
          ...endpoint(o),
          ...(storageUri ? { storageUri } : {}),
        });
        if (o.json) process.stdout.write(JSON.stringify({ checks }) + '\n');
        else {
          for (const c of checks) {
            process.stdout.write(`${c.ok ? 'ok     ' : 'MISSING'} ${c.what}: ${c.detail}\n`);
            if (!c.ok && c.hint) process.stdout.write(`        -> ${c.hint}\n`);
          }
        }
        const missing = checks.filter((c) => !c.ok).length;
        if (missing > 0 && !o.json)
          throw new GgError('GG_E_LAMBDA_CONFIG', `${missing} of ${checks.length} checks failed`, {
            hint: 'fix what is listed above, then run gg lambda doctor again',
          });
        return missing > 0 ? 1 : 0;
      }),
    );
}
