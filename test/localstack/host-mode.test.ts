/**
 * LocalStack on the host (scripts/localstack-host.sh, which `npm run test:localstack` runs these under) as a user meets
 * it: loopback only, and ready for `npm start` and a `--stage local` deployment, as the compose init hook leaves it
 * (localstack/init/ready.d/10-fileserver.sh).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startCli } from '../support/cli';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';

const endpoint = (): string => process.env.S3_ENDPOINT as string;

/** The pid the script started LocalStack with, and every process below it. */
function localstackProcesses(): number[] {
  const root = Number(readFileSync(join(__dirname, '../../.localstack/localstack.pid'), 'utf8').trim());
  const all = [root];
  for (let i = 0; i < all.length; i++) {
    for (const task of readdirSync(`/proc/${all[i]}/task`)) {
      const children = readFileSync(`/proc/${all[i]}/task/${task}/children`, 'utf8').trim();
      if (children) all.push(...children.split(/\s+/).map(Number));
    }
  }
  return all;
}

/** The socket inodes the processes hold open (`/proc/<pid>/fd/* -> socket:[inode]`). */
function socketInodes(pids: number[]): Set<string> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // closed since the listing
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    }
  }
  return inodes;
}

/** `address:port` of every listening TCP socket (state 0A) among `inodes`, from /proc/net/tcp and tcp6. */
function listeners(inodes: Set<string>): string[] {
  const found: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [local, state, inode] = [fields[1], fields[3], fields[9]];
      if (!local || state !== '0A' || !inode || !inodes.has(inode)) continue;
      const [hexAddress, hexPort] = local.split(':') as [string, string];
      found.push(`${decodeAddress(hexAddress)}:${Number.parseInt(hexPort, 16)}`);
    }
  }
  return found;
}

/** /proc/net/tcp writes an IPv4 address as one little-endian 32-bit word; tcp6 as four. */
function decodeAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) => (word.match(/../g) ?? []).reverse().map((b) => Number.parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return `[${groups.join(':')}]`;
}

it('LocalStack listens on 127.0.0.1 only, on every socket it opens', () => {
  const found = listeners(socketInodes(localstackProcesses()));
  const port = new URL(endpoint()).port;
  expect(found).toContain(`127.0.0.1:${port}`);
  expect(found.filter((address) => !address.startsWith('127.0.0.1:'))).toEqual([]);
});

it('npm start over it works out of the box: the bucket recodex-fileserver exists', async () => {
  const server = await startCli([], {
    S3_ENDPOINT: endpoint(),
    BUCKET: '', // npm start's default, recodex-fileserver
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
  try {
    expect(server.output()).toContain(`storage: bucket recodex-fileserver on S3 endpoint ${endpoint()}`);
    const { body, contentType } = multipart([file('main.c', 'int main;'), file('job-config.yml', 'c')]);
    const id = `host_mode_${Date.now()}`;
    const post = await send(server.url, 'POST', `/submissions/${id}`, {
      body,
      headers: { 'Content-Type': contentType },
    });
    expect(post.status).toBe(200);
    expect((await send(server.url, 'GET', `/submission_archives/${id}.zip`)).status).toBe(200);
  } finally {
    await server.stop();
  }
});

it('the credentials parameter of a --stage local deployment is there, as a SecureString', async () => {
  const ssm = new SSMClient({ endpoint: endpoint(), region: process.env.AWS_REGION });
  try {
    const answer = await ssm.send(
      new GetParameterCommand({ Name: '/recodex/fileserver/credentials', WithDecryption: true }),
    );
    expect(answer.Parameter?.Type).toBe('SecureString');
    expect(answer.Parameter?.Value).toBe('re:codex');
  } finally {
    ssm.destroy();
  }
});
