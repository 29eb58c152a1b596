/**
 * The folder store: local mode's object store, one folder on one machine, behind the same contract as S3
 * (lib/storage/object-store.ts). What it guarantees and how is in docs/embedded-store.md; in short:
 *
 * - A write goes to a new file in `tmp/` (the bytes, then the metadata, lib/storage/folder-store/object-file.ts) and is
 *   renamed into place only once whole (POSIX rename(2) replaces the target atomically), so a reader sees the old
 *   version or the new one and a process killed at any moment leaves every acknowledged write intact. With `fsync`,
 *   file and folder are flushed before the write is acknowledged, which also survives a power loss.
 * - A reader opens the file and keeps it open: a version renamed over it meanwhile does not change what it reads.
 * - Small objects are read and written with a few synchronous system calls, large ones and streams asynchronously
 *   (docs/embedded-store.md, "Cost per operation"): the guarantees above are the same on both paths.
 * - Create-only and `If-Match` writes check the stored version and rename while holding the key (lib/storage/folder-store/
 *   key-lock.ts); a lock file keeps every other process off the folder (lib/storage/folder-store/folder.ts), so this
 *   process's key locks are the only ones there are.
 * - Every object-created write is announced (`created`), as S3 notifications announce it to the archiver.
 * - Presigned URLs are SigV4, made and checked with the AWS SDK's own signer with this store's credentials
 *   (lib/storage/folder-store/presigned.ts); the local server answers them (lib/local/store-endpoint.ts).
 * - The folder is mode 0700, its files 0600; nothing else serves it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  closeSync,
  createReadStream,
  type Dirent,
  fstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
  writevSync,
} from 'node:fs';
import { type FileHandle, open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { BadRequestError, StorageUnavailableError } from '../../errors';
import { readSmall, TooLargeToReadError } from '../../util/streams';
import {
  ChecksumMismatchError,
  type GetOptions,
  type ListedObject,
  type ObjectInfo,
  type ObjectStore,
  type ObjectStream,
  PreconditionFailed,
  type PresignedPut,
  type PresignGetOptions,
  type PresignPutOptions,
  type PutOptions,
  type UploadStreamOptions,
} from '../object-store';
import { presignGetWith, presignPutWith } from '../presign';
import { releaseFolder, type StoreCredentials, takeFolder } from './folder';
import { errnoOf, translateFsError } from './fs-errors';
import { KeyLocks } from './key-lock';
import { isFolderName, keyOfPath, objectPath } from './key-path';
import { CorruptObjectError, type ObjectMeta, readTrailer, readWholeFile, trailer } from './object-file';

export interface FolderStoreOptions {
  directory: string;
  /** The bucket name presigned URLs and notifications carry (the folder holds one bucket). */
  bucket: string;
  /** Flush every write (file and folder) to the disk before it is acknowledged: survives a power loss, costs time. */
  fsync?: boolean;
  region?: string;
}

export interface ObjectCreated {
  key: string;
  size: number;
  etag: string;
  /** As S3 names them: a single PUT, or a streamed (in S3: multipart) upload. */
  eventName: 'ObjectCreated:Put' | 'ObjectCreated:CompleteMultipartUpload';
}

export type { StoreCredentials } from './folder';

/** An object opened for reading: its metadata, and streams of any range of the version that was opened. */
export interface OpenObject {
  info: ObjectInfo;
  /** The whole object, when it was small enough to be read at once (`SYNC_READ_MAX_FILE_BYTES`). */
  bytes: Buffer | undefined;
  /** The bytes `start` to `end` inclusive; closes the file when done. */
  stream(start: number, end: number): Readable;
  close(): Promise<void>;
}

export interface StreamPutOptions extends PutOptions {
  /** Refuse (and store nothing) unless the stream has exactly this many bytes: a presigned PUT's signed length. */
  expectedSize?: number;
}

/** A body that ended before its declared length (S3's `IncompleteBody`). */
export class IncompleteBodyError extends BadRequestError {
  constructor(message: string) {
    super('incomplete-body', message);
  }
}

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/**
 * Object files up to this size are read whole with one synchronous read (docs/embedded-store.md, "Cost per
 * operation"). Measured here on page-cached ext4: 1 MiB takes about 130 µs that way, against 1.1 to 2.5 ms of CPU
 * through fs/promises and a read stream. So no read holds the event loop for long (2 MiB, about 0.3 ms), and the
 * memory is bounded by the size: a reader holds at most this much, once. It covers the protocol's small objects and
 * 1 MiB exercise files (with their metadata, just over 1 MiB). Larger files stream.
 */
export const SYNC_READ_MAX_FILE_BYTES = 2 * 1024 * 1024;
/**
 * Object files up to this size (bytes and metadata) are written with synchronous calls, when `--fsync` is off
 * (docs/embedded-store.md, "Cost per operation"). A 1 KiB manifest then costs about 170 µs of CPU instead of 450,
 * and is written at about 3.5 times the rate. Larger writes stay asynchronous: measured with 16 at once, 100 KiB
 * results were written at half the rate synchronously (copying 100 KiB into the page cache, and the kernel's
 * write-back throttling, then happen on the event loop instead of in the thread pool's four threads). It holds the
 * protocol's small objects: manifests (~1 KiB), submission files (~4 KiB), archives of small submissions (~10 KiB).
 */
export const SYNC_WRITE_MAX_FILE_BYTES = 64 * 1024;

export class FolderStore extends EventEmitter implements ObjectStore {
  private readonly objects: string;
  private readonly tmp: string;
  private presigner: S3Client | undefined;
  private closed = false;
  /** The folder's only writer is this process (lib/storage/folder-store/folder.ts), so its own queues suffice. */
  private readonly locks = new KeyLocks();

  private constructor(
    readonly directory: string,
    readonly bucket: string,
    readonly credentials: StoreCredentials,
    private readonly fsync: boolean,
    readonly region: string,
  ) {
    super();
    this.objects = join(directory, 'objects');
    this.tmp = join(directory, 'tmp');
  }

  /**
   * Opens (or creates) the store in `options.directory` and takes the folder (lib/storage/folder-store/folder.ts): an empty
   * or missing folder becomes a store; a folder that holds anything else is refused rather than mixed with.
   * Temporary files of writes that a crash cut short are removed; every object renamed into place before the crash
   * is there. A folder that a running process holds, this one included, is refused.
   */
  static async open(options: FolderStoreOptions): Promise<FolderStore> {
    const root = resolve(options.directory);
    const credentials = await takeFolder(root);
    return new FolderStore(root, options.bucket, credentials, options.fsync ?? false, options.region ?? 'us-east-1');
  }

  /** Where presigned URLs point: the local server that answers them (lib/local/store-endpoint.ts). */
  serveAt(url: string): void {
    this.presigner?.destroy();
    this.presigner = new S3Client({
      endpoint: url,
      forcePathStyle: true,
      region: this.region,
      credentials: this.credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** The client whose configuration signs and checks this store's URLs; only after `serveAt`. */
  signingClient(): S3Client {
    if (!this.presigner) throw new Error('The folder store has no URL to presign for yet (serveAt).');
    return this.presigner;
  }

  async putObject(key: string, body: Buffer, options: PutOptions = {}): Promise<{ etag: string }> {
    // One MD5 for the ETag (S3 clients compare it with the MD5 of what they sent); the SHA-1 only to check one sent.
    const md5 = createHash('md5').update(body).digest('hex');
    const sha1 = options.checksumSha1 ? createHash('sha1').update(body).digest('base64') : undefined;
    if (!this.fsync && body.length <= SYNC_WRITE_MAX_FILE_BYTES) {
      const meta = this.metaOf(key, md5, sha1, options);
      const tail = trailer(meta);
      if (body.length + tail.length <= SYNC_WRITE_MAX_FILE_BYTES) {
        return this.writeSmall(key, body, tail, meta, options);
      }
    }
    return this.write(key, options, 'ObjectCreated:Put', async (file) => {
      await writeAll(file, body, 0);
      return { size: body.length, md5, sha1 };
    });
  }

  /** Streams `body` into `key`: the presigned PUT (which passes its signed length) and archive builds. */
  async putStream(key: string, body: Readable, options: StreamPutOptions = {}): Promise<{ etag: string }> {
    const eventName =
      options.expectedSize === undefined ? 'ObjectCreated:CompleteMultipartUpload' : 'ObjectCreated:Put';
    // Listened to at once: a body that fails before it is read (an archive whose first file is missing) must fail
    // this write, not be an 'error' event without a listener, which would end the process. Once it is read, the
    // reading loop sees its errors itself; what the body emits after this write gave up on it (the AbortError of a
    // stream left midway) is not the cause.
    let earlyError: unknown;
    let reading = false;
    const noteError = (err: unknown): void => {
      if (!reading) earlyError ??= err;
    };
    // It stays attached: an error the body emits later, with no listener, would end the process too.
    body.on('error', noteError);
    try {
      return await this.write(key, options, eventName, async (file) => {
        if (earlyError !== undefined) throw earlyError;
        reading = true;
        return copyBody(body, file, options.expectedSize, options.checksumSha1 !== undefined);
      });
    } catch (err) {
      throw earlyError ?? err;
    }
  }

  /** `checksumSha1PerPart` guards S3's parts on the wire; these bytes never cross one, so there is nothing to check. */
  async uploadStream(key: string, body: Readable, options: UploadStreamOptions): Promise<{ etag: string }> {
    const { contentType, metadata, createOnly } = options;
    return this.putStream(key, body, {
      contentType,
      ...(metadata ? { metadata } : {}),
      ...(createOnly ? { createOnly } : {}),
    });
  }

  async listObjects(prefix: string): Promise<ListedObject[]> {
    const listed: ListedObject[] = [];
    for await (const object of this.eachObject(prefix)) listed.push(object);
    return listed;
  }

  /** In key order, as S3 lists; an object deleted between the listing and its turn is left out. */
  async *eachObject(prefix: string): AsyncGenerator<ListedObject> {
    for (const key of await this.list(prefix)) {
      const info = await this.headObject(key);
      if (info) yield { key, size: info.size, etag: info.etag, lastModified: info.lastModified };
    }
  }

  async headObject(key: string): Promise<ObjectInfo | undefined> {
    const opened = this.openFile(key, false);
    if (!opened) return undefined;
    await opened.close();
    return opened.info;
  }

  async getObject(key: string, options: GetOptions = {}): Promise<ObjectStream | undefined> {
    const opened = this.openFile(key, true);
    if (!opened) return undefined;
    const { info } = opened;
    if (options.ifMatch && info.etag !== options.ifMatch) {
      await opened.close();
      throw new PreconditionFailed(`get ${key}: the stored version is ${info.etag}, not ${options.ifMatch}`);
    }
    const length = Math.min(info.size, options.firstBytes ?? info.size);
    return { ...info, body: opened.stream(0, length - 1) };
  }

  /**
   * Opens the current version of `key` for reading, or `undefined` if there is none. The open file is that version
   * for as long as it stays open, whatever is renamed over it.
   */
  async openObject(key: string): Promise<OpenObject | undefined> {
    return this.openFile(key, true);
  }

  /**
   * open(2), fstat(2) and the read of the trailer, synchronously: each is a few microseconds on a cached file, where
   * the same through fs/promises costs tens (a FileHandle, a thread-pool round trip, a promise per call). With
   * `wantBytes`, a file of at most `SYNC_READ_MAX_FILE_BYTES` is read whole in that one read, and its streams come
   * from that buffer; a larger one streams from the open file, asynchronously. Either way the bytes are those of the
   * version opened: the file is never changed once renamed into place, and an open file keeps its bytes even when
   * a new version is renamed over it or it is deleted.
   */
  private openFile(key: string, wantBytes: boolean): OpenObject | undefined {
    const path = join(this.objects, objectPath(key));
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      // A missing object is an answer, not a failure. open(2) itself says so: a stat(2) before it would be one more
      // call, and the file could still be deleted between the two.
      if (errnoOf(err) === 'ENOENT') return undefined;
      throw translateFsError(`read ${key}`, err);
    }
    let open = true;
    const closeNow = (): void => {
      if (!open) return;
      open = false;
      closeSync(fd);
    };
    try {
      const stat = fstatSync(fd);
      let meta: ObjectMeta;
      let size: number;
      let bytes: Buffer | undefined;
      if (wantBytes && stat.size <= SYNC_READ_MAX_FILE_BYTES) {
        ({ meta, bytes } = readWholeFile(fd, stat.size));
        size = bytes.length;
        closeNow();
      } else {
        ({ meta, size } = readTrailer(fd, stat.size));
      }
      const info: ObjectInfo = {
        size,
        etag: meta.etag,
        // HTTP dates have whole seconds (RFC 9110 §5.6.7), as S3's Last-Modified: a finer time would make every
        // If-Modified-Since look older than the object.
        lastModified: new Date(Math.floor(stat.mtimeMs / 1000) * 1000),
        contentType: meta.contentType,
        metadata: meta.metadata,
      };
      if (bytes) {
        const whole = bytes;
        return {
          info,
          bytes: whole,
          stream: (start, end) => new BufferedBody(whole.subarray(start, Math.max(start, end + 1))),
          close: async () => undefined,
        };
      }
      if (!wantBytes) closeNow();
      return {
        info,
        bytes: undefined,
        stream: (start, end) => {
          if (!open) throw new Error(`The object ${key} was opened for its metadata only, or streamed already.`);
          if (end < start) {
            closeNow();
            return new BufferedBody(Buffer.alloc(0));
          }
          open = false;
          return createReadStream(path, { fd, start, end, autoClose: true });
        },
        close: async () => closeNow(),
      };
    } catch (err) {
      try {
        closeNow();
      } catch {
        // The error that matters is the first one.
      }
      if (err instanceof CorruptObjectError) {
        throw new Error(`The stored object ${key} is not a whole object file (${err.message}).`, { cause: err });
      }
      throw translateFsError(`read ${key}`, err);
    }
  }

  async readObjectBytes(key: string, object: ObjectStream, maxBytes: number): Promise<Buffer> {
    // A small object was read whole when it was opened: its bytes are handed over as they are, no stream read.
    const bytes = object.body instanceof BufferedBody ? object.body.takeBytes() : undefined;
    if (bytes) {
      if (bytes.length > maxBytes) {
        throw new TooLargeToReadError(`Refusing to read more than ${maxBytes} bytes into memory.`);
      }
      return bytes;
    }
    try {
      return await readSmall(object.body, maxBytes);
    } catch (err) {
      if (err instanceof TooLargeToReadError) throw err;
      throw new StorageUnavailableError(`Reading ${key} failed; retry the request.`, { cause: err });
    }
  }

  async presignGet(key: string, options: PresignGetOptions = {}): Promise<string> {
    objectPath(key);
    return presignGetWith(this.signingClient(), key, options);
  }

  async presignPut(key: string, options: PresignPutOptions): Promise<PresignedPut> {
    objectPath(key);
    return presignPutWith(this.signingClient(), key, options);
  }

  async bucketReachable(): Promise<boolean> {
    if (this.closed) return false;
    try {
      await readdir(this.objects);
      return true;
    } catch {
      return false;
    }
  }

  /** Every key under `prefix`, sorted (as S3 lists them: by UTF-8 bytes). */
  async list(prefix = ''): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (folder: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(folder, { withFileTypes: true });
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return;
        throw translateFsError('list', err);
      }
      for (const entry of entries) {
        const path = join(folder, entry.name);
        const rel = relative(this.objects, path).split(sep).join('/');
        if (entry.isDirectory() && isFolderName(entry.name)) {
          const known = keyOfPath(`${rel}/x`);
          const folderPrefix = known?.slice(0, -1);
          if (folderPrefix !== undefined && !folderPrefix.startsWith(prefix) && !prefix.startsWith(folderPrefix)) {
            continue;
          }
          await walk(path);
        } else if (entry.isFile()) {
          const key = keyOfPath(rel) ?? (await this.recordedKey(path));
          if (key?.startsWith(prefix)) keys.push(key);
        }
      }
    };
    await walk(this.objects);
    return keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  /** Removes the object at `key`, if any (as S3's DeleteObject: no error when there is none). */
  async deleteObject(key: string): Promise<void> {
    const path = join(this.objects, objectPath(key));
    await this.locks.with(key, async () => {
      try {
        unlinkSync(path);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw translateFsError(`delete ${key}`, err);
      }
    });
  }

  /** Releases the folder (its lock); objects stay. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.presigner?.destroy();
    await releaseFolder(this.directory);
  }

  private async recordedKey(path: string): Promise<string | undefined> {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return undefined;
    }
    try {
      return readTrailer(fd, fstatSync(fd).size).meta.key;
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  private metaOf(key: string, md5: string, sha1: string | undefined, options: PutOptions): ObjectMeta {
    if (options.checksumSha1 !== undefined && sha1 !== options.checksumSha1) {
      throw new ChecksumMismatchError(
        `The bytes sent for ${key} have the SHA-1 ${sha1}, not ${options.checksumSha1}; nothing was stored.`,
      );
    }
    return {
      key,
      etag: `"${md5}"`,
      contentType: options.contentType ?? DEFAULT_CONTENT_TYPE,
      metadata: options.metadata ?? {},
      ...(options.checksumSha1 ? { checksumSha1: options.checksumSha1 } : {}),
    };
  }

  /**
   * A small write without `--fsync`, as `write` does it (the same temporary file, the same rename under the key, the
   * same checks), in synchronous calls: open(2), one writev(2) of bytes and metadata, close(2), and under the key
   * mkdir(2) if needed and rename(2). Measured (docs/embedded-store.md, "Cost per operation"): a 1 KiB write takes
   * about a third of the CPU of the same calls through fs/promises. The checksum was checked before anything was
   * written.
   */
  private async writeSmall(
    key: string,
    body: Buffer,
    tail: Buffer,
    meta: ObjectMeta,
    options: PutOptions,
  ): Promise<{ etag: string }> {
    if (this.closed) throw new StorageUnavailableError('The folder store is closed.');
    const final = join(this.objects, objectPath(key));
    const temp = join(this.tmp, randomUUID());
    try {
      const fd = openSync(temp, 'wx', 0o600);
      try {
        writeAllSync(fd, body, tail);
      } finally {
        closeSync(fd);
      }
      // Unconditional writes take the key too: a rename between a conditional write's check and its rename would be
      // lost to it.
      await this.locks.with(key, async () => {
        await this.checkConditions(key, options);
        await renameInto(temp, final);
      });
    } catch (err) {
      try {
        rmSync(temp, { force: true });
      } catch {
        // Left for the next start, which empties tmp/; the write's own error is the one to report.
      }
      throw translateFsError(`write ${key}`, err);
    }
    this.emit('created', {
      key,
      size: body.length,
      etag: meta.etag,
      eventName: 'ObjectCreated:Put',
    } satisfies ObjectCreated);
    return { etag: meta.etag };
  }

  /**
   * One write: `fill` writes the bytes into a new temporary file; the metadata follows; the file is checked against
   * the write's checksum and conditions and renamed into place while the key is held. On any failure the temporary
   * file is removed and the stored object (or its absence) is as it was.
   */
  private async write(
    key: string,
    options: PutOptions,
    eventName: ObjectCreated['eventName'],
    fill: (file: FileHandle) => Promise<{ size: number; md5: string; sha1: string | undefined }>,
  ): Promise<{ etag: string }> {
    if (this.closed) throw new StorageUnavailableError('The folder store is closed.');
    const final = join(this.objects, objectPath(key));
    const temp = join(this.tmp, randomUUID());
    let file: FileHandle | undefined;
    let etag: string;
    let size: number;
    try {
      file = await open(temp, 'wx', 0o600);
      const written = await fill(file);
      size = written.size;
      const meta = this.metaOf(key, written.md5, written.sha1, options);
      etag = meta.etag;
      await writeAll(file, trailer(meta), size);
      if (this.fsync) await file.sync();
      await file.close();
      file = undefined;
      await this.locks.with(key, async () => {
        await this.checkConditions(key, options);
        // mkdir(2) of folders that exist is a failed call or two, synchronously a few microseconds; through
        // fs/promises it was a thread-pool round trip per write.
        const created = mkdirSync(dirname(final), { recursive: true, mode: 0o700 });
        await rename(temp, final);
        if (this.fsync) await syncFolders(dirname(final), created);
      });
    } catch (err) {
      await file?.close().catch(() => undefined);
      await rm(temp, { force: true }).catch(() => undefined);
      throw translateFsError(`write ${key}`, err);
    }
    this.emit('created', { key, size, etag, eventName } satisfies ObjectCreated);
    return { etag };
  }

  private async checkConditions(key: string, options: PutOptions): Promise<void> {
    if (!options.createOnly && options.ifMatch === undefined) return;
    const current = await this.headObject(key);
    if (options.createOnly && current) throw new PreconditionFailed(`put ${key}: an object exists (If-None-Match: *)`);
    if (options.ifMatch !== undefined && current?.etag !== options.ifMatch) {
      throw new PreconditionFailed(
        `put ${key}: the stored version is ${current?.etag ?? 'none'}, not ${options.ifMatch}`,
      );
    }
  }
}

/** Writes `body` into `file`, hashing it; refuses a body longer or shorter than `expectedSize` (when given). */
async function copyBody(
  body: Readable,
  file: FileHandle,
  expectedSize: number | undefined,
  withSha1: boolean,
): Promise<{ size: number; md5: string; sha1: string | undefined }> {
  const md5 = createHash('md5');
  const sha1 = withSha1 ? createHash('sha1') : undefined;
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (expectedSize !== undefined && size + chunk.length > expectedSize) {
      throw new BadRequestError('body-too-long', `The body is longer than the ${expectedSize} bytes signed.`);
    }
    await writeAll(file, chunk, size);
    md5.update(chunk);
    sha1?.update(chunk);
    size += chunk.length;
  }
  if (expectedSize !== undefined && size !== expectedSize) {
    throw new IncompleteBodyError(`The body has ${size} bytes; ${expectedSize} were declared.`);
  }
  return { size, md5: md5.digest('hex'), sha1: sha1?.digest('base64') };
}

async function writeAll(file: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/** Writes `body` then `tail` from the start of the file `fd`: one writev(2), unless the file system takes less. */
function writeAllSync(fd: number, body: Buffer, tail: Buffer): void {
  const total = body.length + tail.length;
  let done = writevSync(fd, [body, tail], 0);
  while (done < total) {
    const rest = done < body.length ? Buffer.concat([body.subarray(done), tail]) : tail.subarray(done - body.length);
    done += writeSync(fd, rest, 0, rest.length, done);
  }
}

/**
 * rename(2) of the written temporary file over `final`, creating the object's folders when they are missing: the
 * rename says so (ENOENT), so a write into a folder that exists, the usual case, costs no mkdir(2), and a folder
 * deleted meanwhile (an emptied submission, an operator's hand) is made again.
 *
 * A rename over an existing file is left to the thread pool: ext4 (auto_da_alloc, its default) starts writing the
 * new file's blocks back inside that rename(2), 0.1 to 0.5 ms here, which would hold the event loop; measured, 16
 * overwrites at once then took twice as long made synchronously. A rename to a new name is a few microseconds and
 * is made at once. Which of the two it is decides only who waits: the rename is the same call either way.
 */
async function renameInto(temp: string, final: string): Promise<void> {
  if (statSync(final, { throwIfNoEntry: false })) {
    await rename(temp, final);
    return;
  }
  try {
    renameSync(temp, final);
    return;
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(final), { recursive: true, mode: 0o700 });
  renameSync(temp, final);
}

/** An object read whole when it was opened: a stream of that buffer, or the buffer itself (`takeBytes`). */
class BufferedBody extends Readable {
  private bytes: Buffer | undefined;

  constructor(bytes: Buffer) {
    super();
    this.bytes = bytes;
  }

  /** The bytes, if nothing has been read from this stream yet; after it, the stream is at its end. */
  takeBytes(): Buffer | undefined {
    const bytes = this.bytes;
    this.bytes = undefined;
    return bytes;
  }

  override _read(): void {
    const bytes = this.takeBytes();
    if (bytes && bytes.length > 0) this.push(bytes);
    this.push(null);
  }
}

/** fsync(2) of the folder that got the new name, and of each folder `mkdir` created on the way (their names too). */
async function syncFolders(folder: string, firstCreated: string | undefined): Promise<void> {
  const folders = [folder];
  if (firstCreated) {
    for (let f = folder; f.length >= firstCreated.length; f = dirname(f)) folders.push(dirname(f));
  }
  for (const path of new Set(folders)) {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
