/** `gg trace` as a library call: a job's trace read, summarized, and written as HTML and/or Chrome JSON. */
import fs from 'node:fs';
import path from 'node:path';
import { fromSystemError } from '../errors.js';
import { chromeTrace } from './chrome-trace.js';
import {
  criticalPath,
  findJob,
  readJob,
  summarize,
  type JobData,
  type JobSummary,
  type ThunkSpan,
} from './job-history.js';
import { traceHtml } from './trace-html.js';

export interface TraceExportOptions {
  ggDir: string;
  /** Job id, unique prefix, trace file, or unset for the newest job. */
  job?: string;
  html?: string;
  chrome?: string;
}

export interface TraceExportResult {
  job: JobData;
  summary: JobSummary;
  critical: ThunkSpan[];
  written: string[];
}

export function exportTrace(o: TraceExportOptions): TraceExportResult {
  const job = readJob(findJob(o.ggDir, o.job));
  const critical = criticalPath(job);
  const written: string[] = [];
  if (o.html) {
    writeAtomically(o.html, traceHtml(job));
    written.push(o.html);
  }
  if (o.chrome) {
    writeAtomically(o.chrome, JSON.stringify(chromeTrace(job)));
    written.push(o.chrome);
  }
  return { job, summary: summarize(job, critical), critical, written };
}

function writeAtomically(file: string, text: string): void {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.gg-tmp-${process.pid}`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw fromSystemError(e, `writing ${file}`);
  }
}
