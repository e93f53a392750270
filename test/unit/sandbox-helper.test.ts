/** The jail's exec helper: the embedded bytes are the assembled source, and it does what it says. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { encodeRlimits, jailExecHelper, parseHelperReport } from '../../src/sandbox/jail-exec-helper.js';

const SOURCE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../src/sandbox/jail-exec-helper.x86_64.s',
);
const hasAssembler = ((): boolean => {
  try {
    execFileSync('as', ['--version'], { stdio: 'ignore' });
    execFileSync('objcopy', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('jail exec helper', () => {
  it('is the assembled jail-exec-helper.x86_64.s', { skip: !hasAssembler && 'needs binutils (as, objcopy)' }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-helper-'));
    try {
      execFileSync('as', ['-o', path.join(dir, 'h.o'), SOURCE]);
      execFileSync('objcopy', ['-O', 'binary', '-j', '.text', path.join(dir, 'h.o'), path.join(dir, 'h.bin')]);
      const code = fs.readFileSync(path.join(dir, 'h.bin'));
      const elf = jailExecHelper('x64')!;
      assert.ok(elf.subarray(elf.length - code.length).equals(code));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sets the rlimits, drops to uid 1000 and reports before exec; reports the errno of a failed exec', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-helper-'));
    const helper = path.join(dir, 'exec');
    fs.writeFileSync(helper, jailExecHelper()!, { mode: 0o755 });
    const runHelper = (args: string[]): Promise<{ code: number | null; out: string; report: Buffer }> =>
      new Promise((resolve) => {
        const child = spawn(helper, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
        const chunks: Buffer[] = [];
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        const channel = child.stdio[3] as unknown as Duplex;
        channel.on('data', (d: Buffer) => chunks.push(d));
        channel.write(encodeRlimits(4096, undefined, undefined));
        child.on('close', (code) => resolve({ code, out, report: Buffer.concat(chunks) }));
      });
    try {
      const ok = await runHelper(['/bin/sh', 'sh', '-c', 'id -u; ulimit -f']);
      assert.equal(ok.code, 0);
      assert.equal(ok.out, '1000\n8\n'); // 4096 bytes = 8 blocks of 512
      assert.deepEqual(parseHelperReport(ok.report), { started: true });
      const missing = await runHelper(['/nonexistent/program', 'x']);
      assert.equal(missing.code, 127);
      assert.deepEqual(parseHelperReport(missing.report), { started: true, execErrno: 2 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
