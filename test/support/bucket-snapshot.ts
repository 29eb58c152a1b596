/** What "storage is unchanged" is compared by in the bad-input suites: every object with its ETag, size and time. */
import type { TestStack } from './stack';

export async function bucketSnapshot(stack: TestStack): Promise<Map<string, string>> {
  await stack.notificationsIdle();
  const all = new Map<string, string>();
  for (const key of await stack.keys()) {
    const o = await stack.head(key);
    all.set(key, `${o?.ETag} ${o?.ContentLength} ${o?.LastModified?.toISOString()}`);
  }
  return all;
}
