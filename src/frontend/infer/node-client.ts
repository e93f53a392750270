/**
 * The model client in Node, used only when no C compiler can build client.c: same protocol, ~40 ms slower
 * per call. argv: [node, this, model-path, args...].
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

function execReal(file: string, argv: string[], restorePath: boolean): never {
  const env = { ...process.env };
  if (restorePath && env['GG_INFER_REAL_PATH']) env['PATH'] = env['GG_INFER_REAL_PATH'];
  const r = spawnSync(file, argv.slice(1), { stdio: 'inherit', env });
  process.exit(r.status ?? 127);
}

function fallback(tool: string, argv: string[], self: string): never {
  const search = process.env['GG_INFER_REAL_PATH'] ?? process.env['PATH'] ?? '';
  for (const dir of search.split(':')) {
    const p = path.join(dir || '.', tool);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.realpathSync(p) === self) continue;
    } catch {
      continue;
    }
    execReal(p, argv, true);
  }
  process.stderr.write(`gg infer: ${tool}: the real tool is not on PATH\n`);
  process.exit(127);
}

const modelPath = process.argv[2]!;
const tool = path.basename(modelPath);
const argv = [tool, ...process.argv.slice(3)];
const self = fs.realpathSync(modelPath);
const sock = process.env['GG_INFER_SOCKET'];
if (!sock) fallback(tool, argv, self);
const parts = ['GGI1', tool, process.cwd(), String(argv.length), ...argv];
const env = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`);
parts.push(String(env.length), ...env);
const chunks: Buffer[] = [];
const conn = net.createConnection(sock);
conn.on('error', () => fallback(tool, argv, self));
conn.on('connect', () => conn.end(Buffer.from(parts.map((p) => `${p}\0`).join(''))));
conn.on('data', (d: Buffer) => chunks.push(d));
conn.on('end', () => {
  const all = Buffer.concat(chunks);
  const nl = all.indexOf(10);
  const head = all.subarray(0, nl).toString();
  if (head[0] === 'R' || head[0] === 'P') execReal(head.slice(2), argv, head[0] === 'R');
  const [, status, nout, nerr] = head.split(' ').map(Number) as [number, number, number, number];
  process.stdout.write(all.subarray(nl + 1, nl + 1 + nout));
  process.stderr.write(all.subarray(nl + 1 + nout, nl + 1 + nout + nerr));
  process.exitCode = status;
});
