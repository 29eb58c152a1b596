/**
 * The embedded S3-compatible server of local mode: s3rver on loopback, over a folder.
 * docs/development.md, "Pitfalls of the toolchain": run Node with --openssl-legacy-provider (s3rver's listing continuation tokens use DES).
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
  quietLogging(server);
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

/**
 * s3rver logs every request through koa-logger and winston even when `silent` (its transport then drops the line),
 * which costs about a tenth of its CPU per request, and winston prints "Attempt to write logs with no transports"
 * to stderr when a request finishes after close. Local mode has its own request log; s3rver's is dropped at the
 * source: its first middleware (the request logger) is removed and its controllers get a logger that does nothing.
 */
function quietLogging(server: S3rver): void {
  const app = server as unknown as { middleware: { name?: string }[]; logger: Record<string, unknown> };
  if (app.middleware[0]?.name === 'logger') app.middleware.shift();
  // The same winston logger (the context shares it; s3rver's close() still closes it), with its levels muted.
  const nothing = (): void => undefined;
  for (const level of ['error', 'warn', 'info', 'debug', 'log']) app.logger[level] = nothing;
}
