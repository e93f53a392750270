/**
 * gg force with a shared store: two machines (two .gg directories) and one real redis-server / S3 server.
 * The second force of the same graph executes nothing and downloads only its targets.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { writePlaceholder } from '../../src/ir/placeholder.js';
import { REDUCTION_PREFIX } from '../../src/store/redis-store.js';
import { GG_FORCE_AND_RUN, cProject, sh } from '../helpers/c-project.js';
import { project, run } from '../helpers/cli.js';
import { s3Env, startRedis, startS3, type RunningServer } from '../helpers/servers.js';
import { ShellThunks } from '../helpers/shell-thunks.js';

interface Summary {
  executed: number;
  cached: number;
  targets: { result?: string; error?: string }[];
}

/** The same three-thunk graph on a fresh machine: an input file, a step, and a target depending on it. */
function machine(): { dir: string; target: string; input: string } {
  const dir = project();
  const s = new ShellThunks(dir);
  const input = s.g.value('shared input\n');
  const step = s.script('tr a-z A-Z < in > out', { values: [{ name: input, filename: 'in' }] });
  const top = s.script('cat step > out; echo done >> out', { thunks: [{ name: step.name, filename: 'step' }] });
  s.close();
  writePlaceholder(path.join(dir, 'result.txt'), top.name);
  return { dir, target: top.name, input };
}

/** Every memo entry on the shared Redis store: key -> value. */
async function memoEntries(client: Redis): Promise<Map<string, string>> {
  const keys = await client.keys(`${REDUCTION_PREFIX}*`);
  const values = keys.length ? await client.mget(keys) : [];
  return new Map(keys.map((k, i) => [k, values[i] ?? '']));
}

function blobs(dir: string): string[] {
  return fs.readdirSync(path.join(dir, '.gg/blobs'));
}

for (const backend of ['redis', 's3'] as const) {
  describe(`gg force --storage (${backend})`, () => {
    let server: RunningServer;
    const env = backend === 's3' ? s3Env : {};
    before(async () => {
      server = backend === 'redis' ? await startRedis() : await startS3();
    });
    after(async () => server.stop());

    it('shares the memo: a second machine executes nothing and downloads only its target', () => {
      const a = machine();
      const r1 = run(a.dir, ['force', '--storage', server.uri, '--sandbox=none', '--json', 'result.txt'], { env });
      assert.equal(r1.status, 0, r1.stderr);
      assert.equal((JSON.parse(r1.stdout) as Summary).executed, 2);
      assert.equal(fs.readFileSync(path.join(a.dir, 'result.txt'), 'utf8'), 'SHARED INPUT\ndone\n');

      const b = machine();
      const before = new Set(blobs(b.dir));
      const r2 = run(b.dir, ['force', '--sandbox=none', '--json', 'result.txt'], {
        env: { ...env, GG_STORAGE_URI: server.uri },
      });
      assert.equal(r2.status, 0, r2.stderr);
      const s2 = JSON.parse(r2.stdout) as Summary;
      assert.equal(s2.executed, 0);
      assert.equal(fs.readFileSync(path.join(b.dir, 'result.txt'), 'utf8'), 'SHARED INPUT\ndone\n');
      const downloaded = blobs(b.dir).filter((n) => !before.has(n));
      assert.deepEqual(downloaded, [s2.targets[0]!.result]);
    });

    it('fails before any work on a bad storage URI', () => {
      const a = machine();
      const r = run(a.dir, ['force', '--storage', 'redis://127.0.0.1:1', 'result.txt']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /error\[GG_E_STORAGE_UNREACHABLE\]/);
      assert.match(fs.readFileSync(path.join(a.dir, 'result.txt'), 'utf8'), /gg-force-and-run/);
    });
  });
}

describe('--storage / GG_STORAGE_URI is honoured by every command that forces', () => {
  let server: RunningServer;
  before(async () => {
    server = await startRedis();
  });
  after(async () => server.stop());

  it("gg verify compares with the shared memo: the first run is the other machine's result", () => {
    // a thunk whose output differs on every run: what verify calls "first" tells whose run it was
    const noisy = (): { dir: string } => {
      const dir = project();
      const s = new ShellThunks(dir);
      const t = s.script('od -An -N16 -tx1 /dev/urandom > out');
      s.close();
      writePlaceholder(path.join(dir, 'noise'), t.name);
      return { dir };
    };
    const a = noisy();
    const r1 = run(a.dir, ['force', '--storage', server.uri, '--sandbox=none', '--json', 'noise']);
    assert.equal(r1.status, 0, r1.stderr);
    const aResult = (JSON.parse(r1.stdout) as Summary).targets[0]!.result;
    const b = noisy();
    const r2 = run(b.dir, ['verify', '--storage', server.uri, '--sandbox=none', '--json', 'noise']);
    assert.equal(r2.status, 1, r2.stderr);
    const diff = (JSON.parse(r2.stdout) as { differences: { first: string }[] }).differences;
    assert.equal(diff[0]?.first, aResult?.split('#')[0]);
  });

  it('gg map and gg-force-and-run take the store options gg force takes: a memo key signs, read-only writes nothing', async () => {
    const client = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
    await client.connect();
    try {
      const memo = () => memoEntries(client);
      const earlier = await memo(); // the other tests' entries (unsigned) on this server
      const dir = project();
      const key = path.join(dir, 'memo.key');
      fs.writeFileSync(key, crypto.randomBytes(32).toString('hex'));
      /** `gg map` on the shared store with these store flags: `echo PREFIX{}` for each input. */
      const map = (flags: string[], prefix: string, ...inputs: string[]) =>
        run(dir, [
          'map',
          '--storage',
          server.uri,
          ...flags,
          '--sandbox=none',
          '-s',
          '--',
          'echo',
          `${prefix}{}`,
          ':::',
          ...inputs,
        ]);
      const m = map(['--memo-key-file', key], 'x', 'a', 'b');
      assert.equal(m.status, 0, m.stderr);
      assert.equal(m.stdout, 'xa\nxb\n');
      const written = [...(await memo())].filter(([k]) => !earlier.has(k));
      assert.ok(written.length > 0);
      for (const [k, v] of written) assert.match(v, / ggsig1:/, `${k} is signed`);

      const s = new ShellThunks(dir);
      const t = s.script(`printf '#!/bin/sh\\necho ran $1\\n' > out`);
      s.close();
      writePlaceholder(path.join(dir, 'prog'), t.name);
      const f = spawnSync(process.execPath, [GG_FORCE_AND_RUN, './prog', 'now'], {
        cwd: dir,
        env: { ...process.env, GG_DIR: '', GG_SANDBOX: 'none', GG_STORAGE_URI: server.uri, GG_MEMO_KEY_FILE: key },
        encoding: 'utf8',
      });
      assert.equal(f.status, 0, f.stderr);
      assert.equal(f.stdout, 'ran now\n');
      assert.match(
        (await client.get(REDUCTION_PREFIX + t.name)) ?? '',
        / ggsig1:/,
        'gg-force-and-run signs with GG_MEMO_KEY_FILE',
      );

      const before = await memo();
      const ro = map(['--storage-read-only'], 'y', 'c');
      assert.equal(ro.status, 0, ro.stderr);
      assert.equal(ro.stdout, 'yc\n');
      assert.deepEqual(await memo(), before, '--storage-read-only wrote nothing to the shared memo');
    } finally {
      client.disconnect();
    }
  });

  it('gg test gtest takes them too: --memo-key-file signs its entries, --storage-read-only writes none', async () => {
    const client = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
    await client.connect();
    try {
      const dir = project();
      const key = path.join(dir, 'memo.key');
      fs.writeFileSync(key, crypto.randomBytes(32).toString('hex'));
      /** A stand-in Google Test binary with one passing case; TAG makes each binary (and its thunks) new. */
      const standIn = (tag: string): string => {
        const file = path.join(dir, `${tag}_test`);
        const list = `printf 'Suite.\\n  ${tag}\\n'; exit 0`;
        const body = `case $1 in --gtest_list_tests) ${list};; esac\necho "[ RUN      ] Suite.${tag}"\necho "[       OK ] Suite.${tag} (1 ms)"\n`;
        fs.writeFileSync(file, `#!/bin/sh\n${body}`, { mode: 0o755 });
        return file;
      };
      const gtest = (flags: string[], tag: string) => {
        const r = run(dir, ['test', 'gtest', '--storage', server.uri, ...flags, '--sandbox=none', standIn(tag)]);
        assert.equal(r.status, 0, r.stderr);
      };
      const earlier = await memoEntries(client);
      gtest(['--memo-key-file', key], 'signed');
      const written = [...(await memoEntries(client))].filter(([k]) => !earlier.has(k));
      assert.ok(written.length > 0, 'gg test gtest recorded its runs in the shared memo');
      for (const [k, v] of written) assert.match(v, / ggsig1:/, `${k} is signed`);
      const before = await memoEntries(client);
      gtest(['--storage-read-only'], 'readonly');
      assert.deepEqual(await memoEntries(client), before, '--storage-read-only wrote nothing to the shared memo');
    } finally {
      client.disconnect();
    }
  });

  it('gg verify and gg-force-and-run open the store GG_STORAGE_URI names (and fail before any work)', () => {
    const a = machine();
    const bad = { GG_STORAGE_URI: 'redis://127.0.0.1:1' };
    const v = run(a.dir, ['verify', '--sandbox=none', 'result.txt'], { env: bad });
    assert.equal(v.status, 1);
    assert.match(v.stderr, /error\[GG_E_STORAGE_UNREACHABLE\]/);
    const f = spawnSync(process.execPath, [GG_FORCE_AND_RUN, 'result.txt'], {
      cwd: a.dir,
      env: { ...process.env, GG_DIR: '', GG_SANDBOX: 'none', ...bad },
      encoding: 'utf8',
    });
    assert.equal(f.status, 1);
    assert.match(f.stderr, /error\[GG_E_STORAGE_UNREACHABLE\]/);
    assert.match(fs.readFileSync(path.join(a.dir, 'result.txt'), 'utf8'), /gg-force-and-run/);
  });

  it('gg infer forces on the store --storage names: a placeholder a real tool reads, and one the build runs', () => {
    const dir = cProject({
      'a.c': 'int a(void) { return 7; }\n',
      'gen.c': '#include <stdio.h>\nint main(void) { printf("int g(void) { return 5; }\\n"); return 0; }\n',
      // objdump is a real tool reading a placeholder (gg infer forces it); ./gen runs one (gg-force-and-run)
      Makefile: 'all:\n\tcc -c a.c\n\tobjdump -h a.o > sections.txt\n\tcc -o gen gen.c\n\t./gen > g.c\n',
    });
    const r = sh(dir, `gg infer --storage ${server.uri} make`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(fs.readFileSync(path.join(dir, 'g.c'), 'utf8'), /return 5/);
    // Each force records its job with the store it ran on (the header, the trace's first line).
    const jobsDir = path.join(dir, '.gg/jobs');
    const headers = fs
      .readdirSync(jobsDir)
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => {
        const first = fs.readFileSync(path.join(jobsDir, f), 'utf8').split('\n')[0]!;
        return JSON.parse(first) as { store: string; targets: { target: string }[] };
      });
    const forced = headers.flatMap((h) => h.targets.map((t) => path.basename(t.target))).sort();
    assert.deepEqual(forced, ['a.o', 'gen']);
    const port = new URL(server.uri).port;
    for (const h of headers) assert.match(h.store, new RegExp(`^redis://127\\.0\\.0\\.1:${port}/`));
  });
});
