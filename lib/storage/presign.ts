/**
 * Presigned URLs as S3 makes them: SigV4 query signatures from the AWS SDK's own presigner, signed with the client a
 * store hands in. Both stores use it: the S3 store with its S3 client, the folder store with a client holding its own
 * credentials, whose URLs the local server verifies by signing again (docs/embedded-store.md). Shared here, so that
 * neither store imports the other.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import contentDisposition from 'content-disposition';
import { config } from '../config';
import type { PresignedPut, PresignGetOptions, PresignPutOptions } from './object-store';

/** A presigned GET (or HEAD) of `key`, signed with `client`. */
export async function presignGetWith(client: S3Client, key: string, options: PresignGetOptions = {}): Promise<string> {
  const { filename, contentType, method = 'GET' } = options;
  const target = { Bucket: config().bucket, Key: key };
  // A presigned URL is valid for one method only: a HEAD that follows a redirect needs a URL signed for HEAD.
  // The route's type and disposition, whatever a presigned upload stored (S3's presigner never signs Content-Type);
  // the same for HEAD, so that a HEAD that follows its redirect sees what the GET would.
  const overrides = {
    ...(filename ? { ResponseContentDisposition: contentDisposition(filename) } : {}),
    ...(contentType ? { ResponseContentType: contentType } : {}),
  };
  const command =
    method === 'HEAD'
      ? new HeadObjectCommand({ ...target, ...overrides })
      : new GetObjectCommand({ ...target, ...overrides });
  return getSignedUrl(client, command, { expiresIn: config().presignTtlSeconds });
}

/**
 * A presigned PUT of `key`, signed with `client`: bound to the declared size and, for content addresses, to the SHA-1
 * (signed headers, SigV4 `X-Amz-SignedHeaders`), so the store refuses another length or other bytes.
 */
export async function presignPutWith(client: S3Client, key: string, options: PresignPutOptions): Promise<PresignedPut> {
  const { presignTtlSeconds } = config();
  const expiresAt = new Date(Date.now() + presignTtlSeconds * 1000);
  const url = await getSignedUrl(
    client,
    new PutObjectCommand({
      Bucket: config().bucket,
      Key: key,
      ContentLength: options.size,
      ...(options.contentType ? { ContentType: options.contentType } : {}),
      ...(options.checksumSha1 ? { ChecksumSHA1: options.checksumSha1 } : {}),
      ...(options.createOnly ? { IfNoneMatch: '*' } : {}),
    }),
    {
      expiresIn: presignTtlSeconds,
      // The presigner moves x-amz-* headers into the query string by default; a checksum there is only signed, not
      // checked against the body. Kept as a header, S3 verifies the uploaded bytes against it.
      unhoistableHeaders: new Set(['x-amz-checksum-sha1']),
    },
  );
  // Content-Type is listed for the client but not bound: S3's presigner leaves it out of the signed headers.
  const headers: Record<string, string> = { 'Content-Length': String(options.size) };
  if (options.contentType) headers['Content-Type'] = options.contentType;
  if (options.checksumSha1) headers['x-amz-checksum-sha1'] = options.checksumSha1;
  if (options.createOnly) headers['If-None-Match'] = '*';
  return { url, headers, expiresAt };
}
