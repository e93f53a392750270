/**
 * Observability on a real build (gg infer on a small C project, real gcc, the jail by default): the HTML
 * timeline in Debian's headless chromium (no console errors, a bar per thunk run, screenshot attached), the
 * Chrome trace JSON in Chrome DevTools' own trace parser, and gg explain on an edited header and a changed flag.
 * The lua build of the same checks is bench/trace-lua.sh (too slow for CI's budget).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HELLO, cProject, shOk } from '../helpers/c-project.js';
import { ARTIFACTS, openInChromium } from '../helpers/browser.js';
import { tempDir } from '../helpers/cli.js';
import { parseChromeTrace } from '../helpers/trace-parser.js';

interface TraceJson {
  job: string;
  executed: number;
  cached: number;
  failed: number;
  critical_path: string[];
  written: string[];
}
interface Explained {
  job?: string;
  explanations: { thunk: string; program: string; words: string[]; differences: { kind: string }[] }[];
}

describe('gg trace and gg explain on a gg infer build', () => {
  let dir: string;
  before(() => {
    dir = cProject(HELLO);
    shOk(dir, 'gg infer make -j2 && gg force --sandbox=$GG_SANDBOX -j2 hello');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the HTML page loads in headless chromium with no console errors and draws a bar per thunk run', async (t) => {
    const html = path.join(dir, 'trace.html');
    const chrome = path.join(dir, 'trace.json');
    const s = JSON.parse(shOk(dir, `gg trace --json --html ${html} --chrome ${chrome}`)) as TraceJson;
    assert.ok(s.executed >= 5, `executed ${s.executed}: three compiles, the archive, the link`);
    assert.equal(s.failed, 0);
    assert.ok(s.critical_path.length >= 3, 'a compile, the archive, the link at least');
    const text = fs.readFileSync(html, 'utf8');
    assert.doesNotMatch(
      text,
      /<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/,
      'nothing fetched from anywhere',
    );

    const opened = await openInChromium(html, tempDir('gg-chromium-'));
    try {
      const { page, errors } = opened;
      await page.waitForSelector('body[data-ready]', { timeout: 20_000 });
      assert.equal(await page.locator('rect.bar').count(), s.executed, 'one bar per executed thunk');
      assert.equal(await page.locator('rect.bar.crit').count(), s.critical_path.length);
      const programs = await page.locator('#by-program tbody tr td:first-child').allTextContents();
      assert.ok(programs.length >= 2 && programs.every((p) => p.length > 0), `programs: ${programs.join(',')}`);
      // Search: the link step only.
      await page.fill('#search', 'T');
      const all = await page.locator('rect.bar:not(.dim)').count();
      await page.fill('#search', s.critical_path.at(-1)!);
      assert.equal(await page.locator('rect.bar:not(.dim)').count(), 1, 'a full thunk name finds exactly its run');
      assert.equal(all, s.executed);
      await page.fill('#search', '');
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      const shot = path.join(ARTIFACTS, 'trace-hello.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(fs.statSync(shot).size > 10_000);
      t.diagnostic(`screenshot: ${shot}`);
      assert.deepEqual(errors, []);
    } finally {
      await opened.close();
    }

    // The Chrome JSON, through the trace engine of Chrome DevTools' performance panel.
    const parsed = await parseChromeTrace(chrome);
    assert.equal(parsed.entries, s.executed, 'one complete event per executed thunk');
    assert.ok(
      parsed.threads.every((n) => /^slot \d+$/.test(n)),
      parsed.threads.join(','),
    );
    assert.ok(parsed.rangeMs > 0);
  });

  it('gg explain names an edited header, then a changed flag', () => {
    fs.writeFileSync(
      path.join(dir, 'greet.h'),
      HELLO['greet.h']!.replace('#endif', 'int unused_for_explain(void);\n#endif'),
    );
    shOk(dir, 'rm -f *.o *.a *.d hello && gg infer make -j2 && gg force --sandbox=$GG_SANDBOX -j2 hello');
    let r = JSON.parse(shOk(dir, 'gg explain --json hello')) as Explained;
    assert.ok(r.job, 'explains the job that ran');
    assert.ok(r.explanations.length >= 1, 'something ran');
    for (const e of r.explanations) {
      assert.ok(
        e.words.some((w) => w.includes('greet.h') && w.includes('input content')),
        `${e.program}: ${e.words.join(' | ')}`,
      );
    }
    const human = shOk(dir, 'gg explain hello');
    assert.match(human, /input content: greet\.h changed/);

    fs.writeFileSync(
      path.join(dir, 'Makefile'),
      HELLO['Makefile']!.replace('CFLAGS = -O2 -Wall', 'CFLAGS = -O1 -Wall'),
    );
    shOk(dir, 'rm -f *.o *.a *.d hello && gg infer make -j2 && gg force --sandbox=$GG_SANDBOX -j2 hello');
    r = JSON.parse(shOk(dir, 'gg explain --json hello')) as Explained;
    assert.ok(r.explanations.length >= 1);
    const flagged = r.explanations.filter((e) => e.words.some((w) => /^argument: -O2 → -O1$/.test(w)));
    assert.ok(flagged.length >= 1, r.explanations.map((e) => `${e.program}: ${e.words.join(' | ')}`).join('\n'));
    // Nothing is blamed on the header this time.
    assert.ok(
      r.explanations.every((e) => e.words.every((w) => !w.includes('greet.h'))),
      'the header did not change again',
    );
  });
});
