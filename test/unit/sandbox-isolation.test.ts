/** The bubblewrap jail holds only what a thunk declares: files, environment, network, writes (real programs). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { computeName } from '../../src/ir/name.js';
import type { Runtime } from '../../src/runtime.js';
import { force, JailProject } from '../helpers/jail-thunks.js';

describe('bubblewrap jail: isolation', () => {
  let p: JailProject;
  let rt: Runtime;
  before(async () => {
    process.env['GG_TEST_HOST_SECRET'] = 'leaked';
    p = new JailProject();
    rt = await p.runtime();
  });
  after(async () => {
    delete process.env['GG_TEST_HOST_SECRET'];
    await rt.close();
    assert.deepEqual(p.leftovers(), [], 'run directories are cleaned up');
    p.remove();
  });

  it('an undeclared file is invisible: cat /etc/passwd fails', async () => {
    const t = p.script('cat /etc/passwd > out', { tools: ['cat'] });
    const r = await force(rt, t.name);
    assert.equal(r.error?.code, 'GG_E_THUNK_FAILED');
    assert.match(r.error.message, /\/etc\/passwd: No such file or directory/);
  });

  it('declared inputs appear at their names, read-only; absolute ones at their absolute paths', async () => {
    const rel = p.g.value('relative input\n');
    const abs = p.g.value('absolute input\n');
    const t = p.script(
      [
        'cat src/in.txt /opt/data/abs.txt > out',
        'echo overwrite > src/in.txt 2>/dev/null && echo WROTE-RELATIVE >> out',
        'chmod 666 src/in.txt 2>/dev/null && echo CHMODDED >> out',
        'echo overwrite > /opt/data/abs.txt 2>/dev/null && echo WROTE-ABSOLUTE >> out',
        'id -u >> out; hostname >> out; pwd >> out',
      ].join('; '),
      {
        tools: ['cat', 'chmod', 'id', 'hostname'],
        values: [
          { name: rel, filename: 'src/in.txt' },
          { name: abs, filename: '/opt/data/abs.txt' },
        ],
      },
    );
    const r = await force(rt, t.name);
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(p.text(r.value!), 'relative input\nabsolute input\n1000\ngg\n/gg/work\n');
    assert.equal(p.store.getSync(rel).toString(), 'relative input\n', 'the blob is intact');
  });

  it('the program has no capabilities, and sees the same cgroup paths in every run', async () => {
    // (CapInh keeps what bubblewrap set for the helper; with no_new_privs it can never become effective.)
    const t = p.script('grep -E "^Cap(Prm|Eff|Amb)" /proc/self/status > out; cat /proc/self/cgroup >> out', {
      tools: ['grep', 'cat'],
    });
    const r = await force(rt, t.name);
    assert.equal(r.error, undefined, r.error?.message);
    const lines = p.text(r.value!).trim().split('\n');
    assert.deepEqual(
      lines.slice(0, 3).map((l) => l.split(/\s+/)[1]),
      ['0000000000000000', '0000000000000000', '0000000000000000'],
    );
    assert.ok(lines.length > 3);
    for (const l of lines.slice(3)) assert.match(l, /:\/$/);
  });

  it('the host environment is invisible: only declared variables, plus TZ=UTC and LANG=C', async () => {
    const t = p.script('env | sort > out', { tools: ['env', 'sort'], env: { MINE: 'yes' } });
    const r = await force(rt, t.name);
    assert.equal(r.error, undefined, r.error?.message);
    const seen = p.text(r.value!);
    assert.doesNotMatch(seen, /GG_TEST_HOST_SECRET|HOME=|USER=/);
    assert.deepEqual(
      seen
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('PWD=')),
      ['LANG=C', 'MINE=yes', 'PATH=/usr/bin:/bin', 'TZ=UTC'],
    );
  });

  it('a large environment reaches the program (bubblewrap options then go through --args)', async () => {
    const big = 'x'.repeat(100_000);
    const t = p.script('printf %s "$BIG" | wc -c > out', { tools: ['wc'], env: { BIG: big } });
    const r = await force(rt, t.name);
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(p.text(r.value!).trim(), '100000');
  });

  it('there is no network: a connect to a listener on 127.0.0.1 fails (and succeeds unsandboxed)', async () => {
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const t = p.script(`bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2> out || true`, { tools: ['bash'] });
      const r = await force(rt, t.name);
      assert.equal(r.error, undefined, r.error?.message);
      assert.match(p.text(r.value!), /Connection refused/);
      assert.equal(connections, 0);
      // The same program does connect outside the jail: the test can tell.
      const none = await p.runtime({}, 'none');
      try {
        const control = p.script(`bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' && echo connected > out`, {
          tools: ['bash'],
          env: { CONTROL: '1' },
        });
        const c = await force(none, control.name);
        assert.equal(c.error, undefined, c.error?.message);
        assert.equal(connections, 1);
      } finally {
        await none.close();
      }
    } finally {
      server.close();
    }
  });

  it('writes outside the working directory fail or vanish', async () => {
    const marker = `gg-jail-${process.pid}-${Date.now()}`;
    const t = p.script(
      [
        `for f in /${marker} /usr/${marker} /gg/${marker} /proc/${marker}; do echo x > $f 2>/dev/null && echo "wrote $f"; done > out`,
        `echo x > /tmp/${marker} && echo "tmp ok" >> out`,
      ].join('; '),
    );
    const r = await force(rt, t.name);
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(p.text(r.value!), 'tmp ok\n');
    for (const d of ['/', '/usr', '/tmp', os.tmpdir()]) assert.equal(fs.existsSync(path.join(d, marker)), false);
  });

  it('only declared outputs come back', async () => {
    const extra = `undeclared extra output ${Date.now()}\n`;
    const t = p.script(`printf '${extra.trim()}\\n' > extra; mkdir -p sub; echo nested > sub/file; echo main > out`);
    const r = await force(rt, t.name);
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(p.text(r.value!), 'main\n');
    assert.equal(p.store.hasSync(computeName(Buffer.from(extra))), false);
    assert.equal(fs.statSync(p.store.blobPath(r.value!)).uid, 0, "outputs are stored as root's files");
  });

  it("argv[0] is the thunk's, and @{GGHASH:NAME} is a read-only path in the jail", async () => {
    const data = p.g.value('by placeholder\n');
    const t = p.script(
      `tr '\\0' ' ' < /proc/$$/cmdline > out; echo >> out; cat @{GGHASH:${data}} >> out; echo @{GGHASH:${data}} >> out`,
      { tools: ['tr', 'cat'], argv0: 'my-shell', values: [data] },
    );
    const r = await force(rt, t.name);
    assert.equal(r.error, undefined, r.error?.message);
    const [cmdline, content, where] = p.text(r.value!).split('\n');
    assert.match(cmdline!, /^my-shell -c /);
    assert.equal(content, 'by placeholder');
    assert.equal(where, `/gg/obj/${data}`);
  });

  it('a dynamically linked program without its closure fails with a hint', async () => {
    const ls = p.g.file('/usr/bin/ls');
    const t = p.g.thunk({ function: ls, args: ['ls'], outputs: ['out'] });
    const r = await force(rt, t.name);
    assert.equal(r.error?.code, 'GG_E_THUNK_FAILED');
    assert.match(r.error.message, /ENOENT.*ELF interpreter.*--executable-file/);
  });
});
