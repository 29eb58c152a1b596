/** Result archives (docs/protocol.md §2): what workers upload under `/results/<name>`. */

/** Workers upload zip archives named `<id>.zip`; anything else is stored and served as opaque bytes. */
export function resultContentType(name: string): string {
  return name.endsWith('.zip') ? 'application/zip' : 'application/octet-stream';
}
