/**
 * What one read of a file tells: its size, its SHA-1 (the content address of an exercise file) and the ETags S3 gives
 * an object with these bytes, so the operator tool can tell "already stored, identical" from "must be copied"
 * without downloading anything (docs/operations.md, "Idempotent and resumable").
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { UPLOAD_PART_SIZE } from '../storage/store';

export interface FileDigest {
  size: number;
  /** Lowercase hex. */
  sha1: string;
  /**
   * The ETags (unquoted, lowercase) an object of these bytes can have: the MD5 of the content, which S3 gives a
   * single PutObject (without SSE-KMS) and s3rver gives every object; and, for a file above one part, the multipart
   * form S3 and LocalStack give an upload in `UPLOAD_PART_SIZE` parts: the MD5 of the parts' MD5s, `-<parts>`.
   */
  etags: string[];
}

/** Digests of bytes in memory (a file small enough to be read whole). */
export function digestBytes(data: Buffer): FileDigest {
  const digest = new Digester();
  digest.update(data);
  return digest.result();
}

/** Digests of a file, streamed: memory stays flat whatever its size. */
export async function digestFile(path: string): Promise<FileDigest> {
  const digest = new Digester();
  for await (const chunk of createReadStream(path)) digest.update(chunk as Buffer);
  return digest.result();
}

/** Whether a stored object's ETag (quoted, as S3 sends it) is one these bytes would have. */
export function sameContent(storedEtag: string, digest: FileDigest): boolean {
  return digest.etags.includes(storedEtag.replace(/"/g, '').toLowerCase());
}

class Digester {
  private readonly sha1 = createHash('sha1');
  private readonly md5 = createHash('md5');
  private part: Hash = createHash('md5');
  private partBytes = 0;
  private readonly partDigests: Buffer[] = [];
  private size = 0;

  update(chunk: Buffer): void {
    this.sha1.update(chunk);
    this.md5.update(chunk);
    this.size += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(UPLOAD_PART_SIZE - this.partBytes, chunk.length - offset);
      this.part.update(chunk.subarray(offset, offset + take));
      this.partBytes += take;
      offset += take;
      if (this.partBytes === UPLOAD_PART_SIZE) {
        this.partDigests.push(this.part.digest());
        this.part = createHash('md5');
        this.partBytes = 0;
      }
    }
  }

  result(): FileDigest {
    const etags = [this.md5.digest('hex')];
    // lib-storage sends a body of at most one part with one PutObject, and cuts a larger one into full parts and a
    // last part of the rest (its getChunkStream), so the part count is ceil(size / part size).
    if (this.size > UPLOAD_PART_SIZE) {
      const parts = this.partBytes > 0 ? [...this.partDigests, this.part.digest()] : this.partDigests;
      etags.push(`${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-${parts.length}`);
    }
    return { size: this.size, sha1: this.sha1.digest('hex'), etags };
  }
}
