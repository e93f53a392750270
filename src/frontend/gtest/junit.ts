/**
 * JUnit XML as CI systems read it (the Ant/Surefire shape Jenkins, GitLab and GitHub reporters parse):
 * <testsuites> > <testsuite> per suite > <testcase>, with <failure> for a failed assertion, <error> for a
 * crash or timeout, <skipped/> for a skipped or disabled case, and the output of a case that did not pass in
 * <system-out>.
 */
import type { CaseStatus } from './listing.js';

export interface JunitCase {
  suite: string;
  name: string;
  status: CaseStatus;
  timeMs?: number;
  reason?: string;
  output: string;
}

/** Characters XML 1.0 cannot carry at all (control characters but tab, newline, return; lone surrogates). */

const INVALID_XML =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function xmlEscape(s: string): string {
  return s
    .replace(INVALID_XML, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const secs = (ms: number | undefined): string => ((ms ?? 0) / 1000).toFixed(3);

export function junitXml(cases: readonly JunitCase[], name: string): string {
  const suites = new Map<string, JunitCase[]>();
  for (const c of cases) {
    const list = suites.get(c.suite) ?? [];
    list.push(c);
    suites.set(c.suite, list);
  }
  const count = (cs: readonly JunitCase[], ...st: CaseStatus[]): number =>
    cs.filter((c) => st.includes(c.status)).length;
  const time = (cs: readonly JunitCase[]): number => cs.reduce((s, c) => s + (c.timeMs ?? 0), 0);
  const attrs = (cs: readonly JunitCase[]): string =>
    `tests="${cs.length}" failures="${count(cs, 'failed')}" errors="${count(cs, 'crashed', 'timeout')}" skipped="${count(cs, 'skipped', 'disabled')}" time="${secs(time(cs))}"`;
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="${xmlEscape(name)}" ${attrs(cases)}>`];
  for (const [suite, cs] of suites) {
    lines.push(`  <testsuite name="${xmlEscape(suite)}" ${attrs(cs)}>`);
    for (const c of cs) {
      const head = `    <testcase name="${xmlEscape(c.name)}" classname="${xmlEscape(suite)}" time="${secs(c.timeMs)}"`;
      // Output of the cases that did not pass only, as gtest's own XML: a passing case's chatter is noise.
      const out =
        c.output === '' || c.status === 'passed' ? '' : `      <system-out>${xmlEscape(c.output)}</system-out>\n`;
      let verdict = '';
      if (c.status === 'failed')
        verdict = `      <failure message="${xmlEscape(c.reason ?? 'test failed')}" type="failure">${xmlEscape(failureText(c.output))}</failure>\n`;
      else if (c.status === 'crashed' || c.status === 'timeout')
        verdict = `      <error message="${xmlEscape(c.reason ?? c.status)}" type="${c.status}"/>\n`;
      else if (c.status === 'skipped' || c.status === 'disabled')
        verdict = `      <skipped${c.status === 'disabled' ? ' message="disabled"' : ''}/>\n`;
      lines.push(verdict === '' && out === '' ? `${head}/>` : `${head}>\n${verdict}${out}    </testcase>`);
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}

/** The lines of a gtest failure (file:line: Failure ... up to the case's end), or the whole output. */
function failureText(output: string): string {
  const lines = output.split('\n');
  const start = lines.findIndex((l) => /^\[ RUN {6}\] /.test(l));
  const end = lines.findIndex((l) => /^\[ {2}FAILED {2}\] /.test(l));
  return start >= 0 && end > start ? lines.slice(start + 1, end).join('\n') : output;
}
