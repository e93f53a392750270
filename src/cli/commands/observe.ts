/** trace, explain, status, gc: argv -> the observe library; text for people, --json for machines. */
import type { Command } from 'commander';
import { GgError } from '../../errors.js';
import { shortName } from '../../ir/name.js';
import { explain } from '../../observe/explain.js';
import { gc, DEFAULT_KEEP_JOBS } from '../../observe/gc.js';
import { storeStatus } from '../../observe/store-status.js';
import { exportTrace } from '../../observe/trace-export.js';
import { openLocalStore } from '../../runtime.js';
import { action, parseIntOption } from '../errors.js';
import { formatBytes, formatSeconds } from '../progress.js';

const out = (s: string): void => void process.stdout.write(s + '\n');

export function registerObserve(program: Command): void {
  program
    .command('trace')
    .argument('[job]', 'job id (or a unique prefix, or a .gg/jobs/*.jsonl file); default: the newest job')
    .description("a job's timeline: a summary here, or a self-contained HTML page / Chrome trace-event JSON")
    .option('--html <file>', 'write one self-contained HTML page (timeline, summary, search)')
    .option('--chrome <file>', 'write Chrome/Perfetto trace-event JSON (ui.perfetto.dev, chrome://tracing)')
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', '\nExamples:\n  gg trace --html build.html\n  gg trace 20261202-031522 --chrome build.json')
    .action(
      action((job: string | undefined, o: { html?: string; chrome?: string; json?: boolean }) => {
        const store = openLocalStore();
        const r = exportTrace({
          ggDir: store.ggDir,
          ...(job ? { job } : {}),
          ...(o.html ? { html: o.html } : {}),
          ...(o.chrome ? { chrome: o.chrome } : {}),
        });
        const s = r.summary;
        if (o.json) {
          out(
            JSON.stringify({
              job: r.job.header.id,
              file: r.job.file,
              status: r.job.end?.status ?? 'unfinished',
              ...s,
              slowest: s.slowest.map((x) => ({
                thunk: x.name,
                program: x.program,
                ms: (x.end ?? r.job.durationMs) - x.start,
              })),
              critical_path: r.critical.map((x) => x.name),
              written: r.written,
            }),
          );
          return;
        }
        out(`job ${r.job.header.id}: gg ${r.job.header.argv.join(' ')}`);
        out(
          `  ${r.job.end?.status ?? 'unfinished (no end record: crashed, or still running)'} in ${formatSeconds(s.wallMs / 1000)}: executed ${s.executed}, cached ${s.cached}, failed ${s.failed}${s.cancelled ? `, stopped ${s.cancelled}` : ''}`,
        );
        out(
          `  critical path ${formatSeconds(s.criticalMs / 1000)} over ${r.critical.length} thunk(s); busy ${formatSeconds(s.busyMs / 1000)}${s.cpuMs === undefined ? '' : `, CPU ${formatSeconds(s.cpuMs / 1000)}`}; moved ${formatBytes(s.bytesIn)} in, ${formatBytes(s.bytesOut)} out`,
        );
        for (const p of s.byProgram.slice(0, 8))
          out(
            `  ${p.program.padEnd(16)} ${String(p.count).padStart(6)} run(s) ${formatSeconds(p.wallMs / 1000).padStart(8)}`,
          );
        for (const f of r.written) out(`wrote ${f}`);
      }),
    );

  program
    .command('explain')
    .argument('<target>', 'a placeholder, a file an earlier gg force built, or a thunk name')
    .description('why thunks ran instead of being memo hits: what differs from the earlier thunk for the same output')
    .option('--json', 'machine-readable')
    .addHelpText('after', '\nExample:\n  gg explain src/lua')
    .action(
      action((target: string, o: { json?: boolean }) => {
        const r = explain({ store: openLocalStore(), target });
        if (o.json) {
          out(JSON.stringify(r));
          return;
        }
        if (r.explanations.length === 0) {
          out(`${target}: nothing ran${r.job ? '' : ' and nothing would run'}: every thunk was a memo hit`);
          return;
        }
        out(
          r.job
            ? `${target}: ${r.explanations.length} thunk(s) ran in job ${r.job}:`
            : `${target}: ${r.explanations.length} thunk(s) are not in the memo and would run:`,
        );
        for (const e of r.explanations) {
          out(
            `  ${e.program} ${shortName(e.thunk)}${e.earlier ? ` (earlier: ${shortName(e.earlier.thunk)}, matched by ${e.earlier.via})` : ''}`,
          );
          for (const w of e.words) out(`    - ${w}`);
        }
      }),
    );

  program
    .command('status')
    .description('what the store holds, the memo, recent jobs and their hit rates, remote storage')
    .option('--json', 'machine-readable')
    .option('--jobs <n>', 'recent jobs to list', parseIntOption('--jobs'), 10)
    .option('--storage <uri>', 'remote store to report (default: $GG_STORAGE_URI)')
    .addHelpText('after', '\nExample:\n  gg status')
    .action(
      action((o: { json?: boolean; jobs: number; storage?: string }) => {
        const remote = o.storage ?? process.env['GG_STORAGE_URI'];
        const s = storeStatus(openLocalStore(), { recentJobs: o.jobs, ...(remote ? { remote: redact(remote) } : {}) });
        if (o.json) {
          out(JSON.stringify(s));
          return;
        }
        out(`store ${s.ggDir}: ${s.objects.count} objects, ${formatBytes(s.objects.bytes)}`);
        for (const k of s.byKind)
          out(`  ${(k.kind + 's').padEnd(7)} ${String(k.count).padStart(8)}  ${formatBytes(k.bytes)}`);
        out(`memo: ${s.memoEntries} entries`);
        out(`remote storage: ${s.remote ?? 'none (set --storage or $GG_STORAGE_URI)'}`);
        out(`job traces: ${s.traces.count} (${formatBytes(s.traces.bytes)})${s.gcRunning ? '; gg gc is running' : ''}`);
        if (s.jobs.length > 0) {
          out(`recent jobs${s.hitRate === undefined ? '' : ` (hit rate ${(s.hitRate * 100).toFixed(0)}%)`}:`);
          for (const j of s.jobs)
            out(
              `  ${j.id}  ${j.status.padEnd(11)} executed ${j.executed}, cached ${j.cached}, failed ${j.failed}${j.hitRate === undefined ? '' : `, ${(j.hitRate * 100).toFixed(0)}% hits`}  ${j.command}`,
            );
        }
      }),
    );

  program
    .command('gc')
    .description('remove objects and memo entries no recent job needs (never a memo entry whose result is gone)')
    .option(
      '--max-size <size>',
      'then remove the least recently used until the store is at most SIZE (e.g. 500M, 10G)',
      parseSize,
    )
    .option(
      '--older-than <age>',
      'remove what no kept job reaches and was unused for AGE (e.g. 12h, 7d; default 14d)',
      parseAge,
    )
    .option(
      '--keep-jobs <n>',
      `job traces to keep, with everything their targets reach (default ${DEFAULT_KEEP_JOBS})`,
      parseIntOption('--keep-jobs'),
    )
    .option('--dry-run', 'say what would be removed, remove nothing')
    .option('--json', 'machine-readable')
    .addHelpText('after', '\nExamples:\n  gg gc --max-size 10G\n  gg gc --older-than 7d --keep-jobs 5')
    .action(
      action((o: { maxSize?: number; olderThan?: number; keepJobs?: number; dryRun?: boolean; json?: boolean }) => {
        const r = gc({
          store: openLocalStore(),
          ...(o.maxSize === undefined ? {} : { maxBytes: o.maxSize }),
          ...(o.olderThan === undefined ? {} : { olderThanMs: o.olderThan }),
          ...(o.keepJobs === undefined ? {} : { keepJobs: o.keepJobs }),
          ...(o.dryRun ? { dryRun: true } : {}),
        });
        if (o.json) {
          out(JSON.stringify(r));
          return;
        }
        out(
          `${o.dryRun ? 'would remove' : 'removed'} ${r.removedObjects} object(s) (${formatBytes(r.removedBytes)}), ${r.removedMemo} memo entr${r.removedMemo === 1 ? 'y' : 'ies'}, ${r.removedTraces} job trace(s)`,
        );
        out(`store: ${r.objectsAfter} objects, ${formatBytes(r.bytesAfter)} (${r.reachable} reached by kept jobs)`);
        if (r.overBy > 0)
          out(
            `note: still ${formatBytes(r.overBy)} over --max-size: the rest is needed by the kept jobs (lower --keep-jobs)`,
          );
      }),
    );
}

function redact(uri: string): string {
  return uri.replace(/\/\/[^@/]*@/, '//***@');
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

export function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v.trim());
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new GgError('GG_E_USAGE', `--max-size wants a size like 500M or 10G, got '${v}'`);
  return Math.floor(Number(m[1]) * unit);
}

const AGE_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

export function parseAge(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(v.trim());
  if (!m) throw new GgError('GG_E_USAGE', `--older-than wants an age like 45m, 12h or 7d, got '${v}'`);
  return Number(m[1]) * AGE_UNITS[m[2]!.toLowerCase()]!;
}
