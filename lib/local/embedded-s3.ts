/**
 * The embedded S3-compatible server of local mode: s3rver on loopback, over a folder.
 * TOOLCHAIN.md: run Node with --openssl-legacy-provider (s3rver's listing continuation tokens use DES).
 */
import S3rver from 's3rver';

export interface EmbeddedS3 {
  endpoint: string;
  server: S3rver;
  close(): Promise<void>;
}

/** s3rver accepts any signature made with these; they are not secrets. */
export const EMBEDDED_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export async function startEmbeddedS3(options: {
  directory: string;
  bucket: string;
  host?: string;
  port?: number;
}): Promise<EmbeddedS3> {
  const host = options.host ?? '127.0.0.1';
  const server = new S3rver({
    address: host,
    port: options.port ?? 0,
    silent: true,
    directory: options.directory,
    configureBuckets: [{ name: options.bucket }],
  });
  const address = await server.run();
  return {
    endpoint: `http://${host}:${address.port}`,
    server,
    close: async () => {
      // The SDK keeps connections alive; close them, or close() waits for their idle timeout.
      server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}
