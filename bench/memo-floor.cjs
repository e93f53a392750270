// The floor under any memoized `gg force` in Node (bench/original-gg.sh's "floor" row): a bare CommonJS script
// that does only the file work gg-ts does per placeholder, with the same system calls, and nothing else (no
// scheduler, no job trace, no report, no hash cache beyond the blob's stat). What it takes above the original
// gg is Node's start and the cost of Node's fs calls themselves: no change to gg-ts's own code can go below it.
// Usage (in the project, after a force recorded the memo): node bench/memo-floor.cjs PLACEHOLDER...
'use strict';
/* global require, process, Buffer -- a CommonJS script, as gg's bundle is (no ES module loader at start) */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs = require('node:fs');

const gg = `${process.cwd()}/.gg`;
const buf = Buffer.allocUnsafe(1024);
for (const file of process.argv.slice(2)) {
  const fd = fs.openSync(file, 'r'); // the placeholder: its reference and its mode
  const st = fs.fstatSync(fd);
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  fs.closeSync(fd);
  const ref = buf.toString('latin1', 0, n).split('\n')[1];
  const memo = fs.openSync(`${gg}/reductions/${ref}`, 'r'); // its memo entry
  const m = fs.readSync(memo, buf, 0, buf.length, 0);
  fs.closeSync(memo);
  const blob = `${gg}/blobs/${buf.toString('latin1', 0, m).trim()}`;
  if (!fs.existsSync(blob)) throw new Error(`${blob} is missing`); // the memo names a value the store holds
  fs.statSync(blob, { bigint: true }); // the stat gg's hash cache checks the blob by
  const tmp = `${file}.floor-tmp`; // the output: a temp beside the placeholder, its mode, renamed over it
  fs.copyFileSync(blob, tmp, fs.constants.COPYFILE_EXCL);
  fs.chmodSync(tmp, st.mode & 0o7777);
  fs.renameSync(tmp, file);
}
