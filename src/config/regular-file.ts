// Reading a file an operator named (the config, a password_file): a regular file only
// (symbolic links followed), at most `maxBytes`, so that a path to /dev/zero, a FIFO or a
// directory cannot hang lb or fill its memory. A directory, FIFO, device or socket is refused
// before it is opened, and the descriptor is checked again (fstat) after the open, in case
// the path changed in between; the read stops at maxBytes + 1 even when the file grows.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

export type FileRead =
  | { readonly ok: true; readonly text: string }
  /** `readError`: the open or read failed (`message` is "why (CODE)"); else the file was refused. */
  | { readonly ok: false; readonly message: string; readonly readError: boolean };

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENXIO: 'no such device or address',
};

/**
 * The open flags. O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer, and a
 * path may become a FIFO between the stat and the open; it changes nothing for a regular
 * file (reads of disk files never block in the O_NONBLOCK sense). O_NOCTTY: a terminal device
 * must not become the controlling terminal. Both are refused by the fstat that follows.
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** "1 MiB", "4 KiB", "100 bytes". */
export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** `file`'s UTF-8 text, or why it was not read. Never throws. */
export function readRegularFile(file: string, maxBytes: number): FileRead {
  let fd: number | undefined;
  const tooLarge = (got: string): FileRead => ({ ok: false, message: `larger than ${formatSize(maxBytes)} (got ${got} bytes)`, readError: false });
  try {
    const st = statSync(file);
    if (!st.isFile()) return { ok: false, message: `not a regular file (${fileKind(st)})`, readError: false };
    if (st.size > maxBytes) return tooLarge(String(st.size));
    fd = openSync(file, OPEN_FLAGS);
    const again = fstatSync(fd);
    if (!again.isFile()) return { ok: false, message: `not a regular file (${fileKind(again)})`, readError: false };
    if (again.size > maxBytes) return tooLarge(String(again.size));
    const buf = Buffer.allocUnsafe(maxBytes + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
      if (got === buf.length) return tooLarge(`more than ${maxBytes}`);
    }
    return { ok: true, text: buf.toString('utf8', 0, got) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = (code !== undefined ? READ_ERRORS[code] : undefined) ?? (err as Error).message;
    return { ok: false, message: `${why}${code !== undefined ? ` (${code})` : ''}`, readError: true };
  } finally {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // Nothing was written; a failed close loses nothing.
      }
    }
  }
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'an unknown kind of file';
}
