/**
 * Chrome trace-event JSON through the trace engine of Chrome DevTools' performance panel
 * (@paulirish/trace_engine, published from devtools-frontend): what it finds is what the panel would draw.
 */
import fs from 'node:fs';

interface ParsedThreads {
  /** Complete events found on the threads the engine recognised. */
  entries: number;
  threads: string[];
  rangeMs: number;
}

export async function parseChromeTrace(file: string): Promise<ParsedThreads> {
  // The engine's geometry code expects the DOM's DOMRect.
  (globalThis as { DOMRect?: unknown }).DOMRect ??= class {
    constructor(
      public x = 0,
      public y = 0,
      public width = 0,
      public height = 0,
    ) {}
  };
  const Trace = (await import('@paulirish/trace_engine')) as unknown as TraceModule;
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { traceEvents: unknown[] };
  const model = Trace.TraceModel.Model.createWithAllHandlers();
  await model.parse(json.traceEvents);
  const parsed = model.parsedTrace();
  if (!parsed) throw new Error(`the trace engine found nothing in ${file}`);
  const data = parsed.data ?? (parsed as unknown as ParsedData);
  let entries = 0;
  const threads: string[] = [];
  for (const p of data.Renderer.processes.values()) {
    for (const t of p.threads.values()) {
      entries += t.entries.length;
      threads.push(t.name ?? '');
    }
  }
  return { entries, threads, rangeMs: data.Meta.traceBounds.range / 1000 };
}

interface TraceModule {
  TraceModel: {
    Model: {
      createWithAllHandlers(): { parse(events: unknown[]): Promise<void>; parsedTrace(): { data?: ParsedData } | null };
    };
  };
}
interface ParsedData {
  Renderer: { processes: Map<number, { threads: Map<number, { name: string | null; entries: unknown[] }> }> };
  Meta: { traceBounds: { range: number } };
}
