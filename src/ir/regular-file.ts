/**
 * Files a user names (gg hash, collect, placeholders, force targets) are hostile input too: a directory, a
 * FIFO (opening one for reading waits for a writer forever), a device (/dev/zero never ends) or a /proc file
 * (size 0, content on read) must be a clear error, never a hang, a stack trace or an empty object.
 */
import fs from 'node:fs';
import { GgError, fromSystemError } from '../errors.js';

/** Open `file` for reading, insisting on a regular file whose size is its content; the caller closes the fd. */
export function openRegularFile(file: string): { fd: number; size: number; stat: fs.Stats } {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO opens at once (and is refused below) instead of waiting for a writer.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new GgError('GG_E_FILE_NOT_FOUND', `no such file: ${file}`, { cause: e });
    throw fromSystemError(e, `opening ${file}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device';
      throw new GgError('GG_E_FILE_TYPE', `${file} is ${kind}, not a regular file`, {
        hint: 'name a regular file (gg stores file contents only)',
      });
    }
    if (st.size === 0 && fs.readSync(fd, Buffer.alloc(1), 0, 1, 0) > 0) {
      throw new GgError('GG_E_FILE_TYPE', `${file} says it is empty but is not (a /proc or /sys file)`, {
        hint: 'copy it to a regular file first (cat FILE > copy) and use the copy',
      });
    }
    return { fd, size: st.size, stat: st };
  } catch (e) {
    fs.closeSync(fd);
    throw fromSystemError(e, `reading ${file}`);
  }
}

/** Check without keeping it open. */
export function assertRegularFile(file: string): void {
  fs.closeSync(openRegularFile(file).fd);
}
