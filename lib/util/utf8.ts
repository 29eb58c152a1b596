/**
 * Names must reach storage as the client or the old folder spelt them. A lossy UTF-8 decoder turns bytes that are not
 * UTF-8 into U+FFFD and so renames the file silently; these helpers decode strictly and show such bytes instead
 * (docs/protocol.md §6).
 */

/** Throws on bytes that are not UTF-8; keeps a leading U+FEFF, which is part of a name, not a byte order mark. */
const STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** `bytes` as UTF-8, or `undefined` if they are not UTF-8 (a stray byte, a truncated or overlong sequence, a surrogate). */
export function strictUtf8(bytes: Uint8Array): string | undefined {
  try {
    return STRICT.decode(bytes);
  } catch {
    return undefined;
  }
}

/** `bytes` for a message: printable ASCII as it is, every other byte as `\xNN`; at most `max` bytes, then `…`. */
export function showBytes(bytes: Uint8Array, max = 60): string {
  const shown = [...bytes.subarray(0, max)]
    .map((byte) =>
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, '0')}`,
    )
    .join('');
  return bytes.length > max ? `${shown}…` : shown;
}
