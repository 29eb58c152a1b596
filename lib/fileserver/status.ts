import packageJson from '../../package.json';
import { config } from '../config';
import { bucketReachable } from '../storage/store';

export interface Status {
  service: string;
  version: string;
  storage: { bucket: string; reachable: boolean };
}

/** GET / (docs/protocol.md §2): what a human or a health check needs to know. */
export async function status(): Promise<Status> {
  return {
    service: packageJson.name,
    version: packageJson.version,
    storage: { bucket: config().bucket, reachable: await bucketReachable() },
  };
}
