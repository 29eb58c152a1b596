/**
 * The files of an upload as the fileserver receives them: what a multipart/form-data body (lib/http/multipart.ts)
 * carries once parsed, whatever carried it.
 */
import { BadRequestError } from '../errors';

export interface FilePart {
  /** The part's field name: for a submission, the file's relative path (docs/protocol.md §2). */
  field: string;
  data: Buffer;
}

/** docs/protocol.md §6: two file parts with one field name are refused (the original kept the first silently). */
export function rejectDuplicateFields(parts: readonly FilePart[]): void {
  const seen = new Set<string>();
  for (const { field } of parts) {
    if (seen.has(field)) {
      throw new BadRequestError(
        'duplicate-field',
        `Two file parts have the field name ${JSON.stringify(field)}; each file must be sent once.`,
      );
    }
    seen.add(field);
  }
}
