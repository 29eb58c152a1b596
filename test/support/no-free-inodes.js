/**
 * Preloaded into `npm start` (`NODE_OPTIONS=--require …`) by a test: the file system of the folder in
 * NO_FREE_INODES_UNDER has no free inodes left. A real one cannot be made on these machines without privileges (a
 * small tmpfs or loop mount; test/support/full-disk.ts says the same of a full disk), so what such a file system does
 * is done here: creating a file or a folder under it fails with ENOSPC, as open(2) and mkdir(2) fail, while reading,
 * rewriting an existing file and removing work; statfs(2) reports no free inodes.
 */
const fs = require('node:fs');
const promises = require('node:fs/promises');

const under = process.env.NO_FREE_INODES_UNDER;
if (!under) throw new Error('NO_FREE_INODES_UNDER must name the folder whose file system has no free inodes');

const inside = (path) => typeof path === 'string' && (path === under || path.startsWith(`${under}/`));
const exists = (path) => fs.existsSync(path);
const enospc = (syscall, path) =>
  Object.assign(new Error(`ENOSPC: no space left on device, ${syscall} '${path}'`), {
    code: 'ENOSPC',
    errno: -28,
    syscall,
    path,
  });
/** Whether opening `path` with `flags` would create a file. */
const creates = (path, flags = 'r') =>
  inside(path) &&
  !exists(path) &&
  (typeof flags === 'number' ? (flags & fs.constants.O_CREAT) !== 0 : /[wax]/.test(flags));

const { writeFile, open, mkdir, statfs } = promises;
promises.writeFile = (path, data, options) =>
  creates(path, typeof options === 'object' ? (options?.flag ?? 'w') : 'w')
    ? Promise.reject(enospc('open', path))
    : writeFile(path, data, options);
promises.open = (path, flags, mode) =>
  creates(path, flags) ? Promise.reject(enospc('open', path)) : open(path, flags, mode);
promises.mkdir = (path, options) =>
  inside(path) && !exists(path) ? Promise.reject(enospc('mkdir', path)) : mkdir(path, options);
promises.statfs = async (path, options) => {
  const real = await statfs(path, options);
  return inside(path) ? Object.assign(real, { ffree: typeof real.ffree === 'bigint' ? 0n : 0 }) : real;
};
