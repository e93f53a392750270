/** Finding 2: a descriptor gg inherited (`gg force T 33<secret`) reached the jailed program. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { JailProject } from '../helpers/jail-thunks.js';
import { collectOutput, rawThunk, spawnGg } from './helpers.js';

describe('security 2: no inherited descriptor reaches the program', () => {
  let p: JailProject;
  before(() => {
    p = new JailProject();
  });
  after(() => p.remove());

  it('fd 33 (read) and fd 34 (write), open in gg, are closed in the jail', async () => {
    const secretFile = path.join(p.dir, 'secret');
    fs.writeFileSync(secretFile, 'TOP-SECRET\n');
    const sink = path.join(p.dir, 'sink');
    fs.writeFileSync(sink, '');
    const t = rawThunk(
      p,
      'for fd in 33 34; do if [ -e /proc/self/fd/$fd ]; then echo "open $fd"; fi; done > out; cat /proc/self/fd/33 >> out 2>/dev/null; ls /proc/self/fd >> out',
      { tools: ['cat', 'ls'] },
    );
    const read = fs.openSync(secretFile, 'r');
    const write = fs.openSync(sink, 'a');
    const stdio: (number | 'ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe'];
    for (let fd = 3; fd < 33; fd++) stdio.push('ignore');
    stdio.push(read, write);
    const r = await collectOutput(spawnGg(p.dir, ['force', '--json', t], stdio));
    fs.closeSync(read);
    fs.closeSync(write);
    assert.equal(r.code, 0, r.stderr);
    const value = (JSON.parse(r.stdout) as { targets: { result: string }[] }).targets[0]!.result;
    const out = p.text(value);
    assert.doesNotMatch(out, /open 3[34]|TOP-SECRET/);
    assert.deepEqual(
      out
        .trim()
        .split('\n')
        .map(Number)
        .filter((n) => n > 3),
      [],
      `the program's descriptors (ls has 0-2 and its own 3): ${out}`,
    );
  });
});
