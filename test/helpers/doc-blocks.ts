/**
 * The fenced blocks of a Markdown document, for running its examples as tests (test/unit/doc-examples.test.ts).
 *
 * Every block names its language. `sh`, `bash` and `shell` blocks are commands: they run in order, each in the
 * directory the previous one ended in (a user following the document in one terminal). Lines `#> TEXT` in a
 * block are output it shows: the block's stdout must hold them, in order (`...` in one matches any text).
 * An HTML comment on the line before the fence changes that:
 *   <!-- doc-test: skip (REASON) -->   the block is not run; the test is a named skip giving REASON
 *   <!-- doc-test: in DIR -->          the block starts in DIR (relative to the document's scratch directory)
 */
import fs from 'node:fs';

export const COMMAND_LANGUAGES = new Set(['sh', 'bash', 'shell']);

export interface DocBlock {
  file: string;
  /** Line of the opening fence, 1-based. */
  line: number;
  language: string;
  text: string;
  skip?: string;
  in?: string;
  /** The `#>` lines, in order. */
  shows: string[];
}

const MARKER = /^<!--\s*doc-test:\s*(.*?)\s*-->\s*$/;

export function docBlocks(file: string, label = file): DocBlock[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i]!.trimEnd() !== fence; i++) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`${label}:${start + 1}: the block is never closed`);
    const block: DocBlock = {
      file: label,
      line: start + 1,
      language: open[2]!.trim(),
      text: body.join('\n') + '\n',
      shows: body.filter((l) => l.startsWith('#> ')).map((l) => l.slice(3)),
    };
    const marker = MARKER.exec(start > 0 ? lines[start - 1]! : '')?.[1];
    if (marker !== undefined) {
      const skip = /^skip \((.+)\)$/.exec(marker);
      const dir = /^in (\S+)$/.exec(marker);
      if (skip) block.skip = skip[1]!;
      else if (dir) block.in = dir[1]!;
      else throw new Error(`${label}:${start}: unknown doc-test marker '${marker}'`);
    }
    blocks.push(block);
  }
  return blocks;
}

/** The `shows` lines missing from `stdout` (in order; `...` matches any text within a line). */
export function missingOutput(shows: readonly string[], stdout: string): string[] {
  const out = stdout.split('\n');
  let at = 0;
  const missing: string[] = [];
  for (const want of shows) {
    const re = new RegExp(`^${want.split('...').map(escape).join('.*')}$`);
    const found = out.findIndex((l, k) => k >= at && re.test(l));
    if (found < 0) missing.push(want);
    else at = found + 1;
  }
  return missing;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
