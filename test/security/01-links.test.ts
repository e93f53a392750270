/** Finding 1: a thunk's links could make gg (root, on the host) create files and directories outside the run dir. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../helpers/cli.js';
import { force, jailSuite } from '../helpers/jail-thunks.js';
import { rawThunk } from './helpers.js';

describe("security 1: nothing is created through a thunk's own links", () => {
  const jail = jailSuite();
  let host: string;
  before(async () => {
    host = tempDir('gg-sec-host-');
  });
  after(async () => {
    fs.rmSync(host, { recursive: true, force: true });
  });

  it('a link through a link, a start directory through a link, an input through a link: refused, the host untouched', async () => {
    const v = jail.p.g.value('planted content\n');
    const cases = [
      rawThunk(jail.p, 'echo ok > out', { links: { d: host, 'd/planted': '/etc/hostname' } }),
      rawThunk(jail.p, 'echo ok > out', { links: { d: host }, cwd: 'd/newdir' }),
      rawThunk(jail.p, 'echo ok > out', { links: { d: host }, values: [{ name: v, filename: 'd/input' }] }),
      rawThunk(jail.p, 'echo ok > out', { links: { 'd/': `${host}/`, 'd/x/y': '/etc' } }),
    ];
    for (const t of cases) {
      const r = await force(jail.rt, t);
      assert.equal(r.error?.code, 'GG_E_THUNK_INVALID', `${t}: ${r.error?.message ?? 'forced'}`);
    }
    assert.deepEqual(fs.readdirSync(host), [], 'nothing appeared in the host directory');
    assert.equal(fs.existsSync(path.join(host, 'newdir')), false);
  });

  it('a link that does not shadow anything still works', async () => {
    const t = rawThunk(jail.p, 'readlink d > out', { links: { d: host }, tools: ['readlink'] });
    const r = await force(jail.rt, t);
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(jail.p.text(r.value!), `${host}\n`);
  });
});
