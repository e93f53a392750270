/**
 * node dist/bench/check-trace-page.js PAGE.html TRACE.json SHOT.png: load a `gg trace --html` page in
 * headless chromium, insist on no console errors and a bar per executed thunk, save a screenshot; parse the
 * Chrome JSON with Chrome DevTools' trace engine. Prints what it found; exits 1 on any problem.
 */
import fs from 'node:fs';
import { openInChromium } from '../test/helpers/browser.js';
import { parseChromeTrace } from '../test/helpers/trace-parser.js';

const [html, json, shot] = process.argv.slice(2);
if (!html || !json || !shot) {
  console.error('usage: check-trace-page PAGE.html TRACE.json SHOT.png');
  process.exit(2);
}
const data = JSON.parse(
  fs.readFileSync(html, 'utf8').match(/<script type="application\/json" id="gg-data">(.*?)<\/script>/s)![1]!,
) as { spans: { st: string }[] };
const executed = data.spans.filter((s) => s.st === 'executed').length;
const dir = fs.mkdtempSync('/var/tmp/gg-chromium-');
const t0 = performance.now();
const opened = await openInChromium(html, dir);
let ok = true;
try {
  await opened.page.waitForSelector('body[data-ready]', { timeout: 60_000 });
  const loadMs = performance.now() - t0;
  const bars = await opened.page.locator('rect.bar').count();
  const critical = await opened.page.locator('rect.bar.crit').count();
  await opened.page.screenshot({ path: shot, fullPage: false });
  console.log(
    `page: ${(fs.statSync(html).size / 1024).toFixed(0)} KiB, ${bars} bars (${executed} executed thunks), ${critical} on the critical path, loaded in ${(loadMs / 1000).toFixed(1)} s with chromium start, console errors: ${opened.errors.length}`,
  );
  for (const e of opened.errors) console.log(`  ${e}`);
  ok = opened.errors.length === 0 && bars === data.spans.length && executed > 0;
} finally {
  await opened.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
const parsed = await parseChromeTrace(json);
console.log(
  `chrome json: DevTools' trace engine found ${parsed.entries} events on ${parsed.threads.length} thread(s) (${parsed.threads.join(', ')}), ${(parsed.rangeMs / 1000).toFixed(1)} s`,
);
ok &&= parsed.entries === data.spans.length;
process.exit(ok ? 0 : 1);
