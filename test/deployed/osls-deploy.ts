/**
 * The deploy an operator runs, run by `npm run test:deployed` against LocalStack's CloudFormation on 127.0.0.1: the
 * `npx osls deploy …` command of docs/deploy.md, step 5, word for word (read from the guide, so the two cannot drift),
 * on a copy of the service, with the SDK's own `AWS_ENDPOINT_URL` pointing at LocalStack and LocalStack's documented
 * test keys. osls runs its real flow: the bootstrap stack with its deployment bucket, the zips' upload, template
 * validation, and a change set.
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type CloudFormationClient,
  DescribeStackEventsCommand,
  type DescribeStackEventsCommandOutput,
  DescribeStacksCommand,
  ListStackResourcesCommand,
  type ListStackResourcesCommandOutput,
  type StackEvent,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import { type CfnTemplate, copyService, offlineEnv } from '../../scripts/package-service';

const root = join(__dirname, '../..');

export interface GuideCommand {
  /** The words after `npx osls`, quotes removed as the shell removes them. */
  args: string[];
  stage: string;
  region: string;
  params: Record<string, string>;
}

/** The `npx osls deploy` command of docs/deploy.md's step 5 ("Deploy"), continuation lines joined. */
export async function guideDeployCommand(): Promise<GuideCommand> {
  const guide = await readFile(join(root, 'docs/deploy.md'), 'utf8');
  const step = guide.slice(guide.indexOf('5. **Deploy:**'));
  const lines = step.split('\n');
  const first = lines.findIndex((line) => /^\s*npx osls deploy\b/.test(line));
  if (first < 0) throw new Error('docs/deploy.md, step 5, has no `npx osls deploy` command');
  let command = '';
  for (let i = first; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    command += ` ${line.replace(/\\$/, '')}`;
    if (!line.endsWith('\\')) break;
  }
  const words = [...command.matchAll(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g)].map((m) => m[0].replace(/["']/g, ''));
  if (words[0] !== 'npx' || words[1] !== 'osls') throw new Error(`unexpected command: ${command}`);
  const args = words.slice(2);
  const option = (name: string): string => {
    const at = args.indexOf(name);
    if (at < 0 || !args[at + 1]) throw new Error(`the guide's command has no ${name}`);
    return args[at + 1] as string;
  };
  const params = Object.fromEntries(
    args
      .filter((a) => a.startsWith('--param='))
      .map((a) => {
        const [name, ...value] = a.slice('--param='.length).split('=');
        return [name as string, value.join('=')];
      }),
  );
  return { args, stage: option('--stage'), region: option('--region'), params };
}

export interface Deployment {
  /** The service copy osls deployed from; its `.serverless/` holds the zips and templates it uploaded. */
  dir: string;
  code: number;
  output: string;
  seconds: number;
  /** The template CloudFormation was given (the update stack's). */
  template: CfnTemplate | undefined;
  close(): Promise<void>;
}

export async function oslsDeploy(command: GuideCommand, endpoint: string): Promise<Deployment> {
  const dir = await copyService();
  const started = performance.now();
  let code = 0;
  let output: string;
  try {
    const done = await promisify(execFile)(join(root, 'node_modules/.bin/osls'), command.args, {
      cwd: dir,
      // Only LocalStack's endpoint and test keys: no AWS setting of this machine reaches osls.
      env: offlineEnv({
        AWS_ENDPOINT_URL: endpoint,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
      }),
      maxBuffer: 16 * 1024 * 1024,
      timeout: 600_000,
    });
    output = done.stdout + done.stderr;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message?: string };
    code = typeof e.code === 'number' ? e.code : 1;
    output = `${e.stdout ?? ''}${e.stderr ?? ''}${e.message ?? ''}`;
  }
  const seconds = (performance.now() - started) / 1000;
  const template =
    code === 0
      ? (JSON.parse(
          await readFile(join(dir, '.serverless/cloudformation-template-update-stack.json'), 'utf8'),
        ) as CfnTemplate)
      : undefined;
  return { dir, code, output, seconds, template, close: () => rm(dir, { recursive: true, force: true }) };
}

export interface StackOutcome {
  status: string;
  /** Logical id → the resource as CloudFormation reports it. */
  resources: Map<string, StackResourceSummary>;
  outputs: Record<string, string>;
  events: StackEvent[];
  /** Events of a resource or the stack that failed or rolled back. */
  failed: StackEvent[];
}

/** The stack as CloudFormation left it. Complete means CREATE_ or UPDATE_COMPLETE with no failed event at all. */
export async function stackOutcome(cf: CloudFormationClient, stackName: string): Promise<StackOutcome> {
  const { Stacks = [] } = await cf.send(new DescribeStacksCommand({ StackName: stackName }));
  const stack = Stacks[0];
  const events: StackEvent[] = [];
  let next: string | undefined;
  do {
    const page: DescribeStackEventsCommandOutput = await cf.send(
      new DescribeStackEventsCommand({ StackName: stackName, NextToken: next }),
    );
    events.push(...(page.StackEvents ?? []));
    next = page.NextToken;
  } while (next);
  const resources = new Map<string, StackResourceSummary>();
  next = undefined;
  do {
    const page: ListStackResourcesCommandOutput = await cf.send(
      new ListStackResourcesCommand({ StackName: stackName, NextToken: next }),
    );
    for (const r of page.StackResourceSummaries ?? []) resources.set(r.LogicalResourceId as string, r);
    next = page.NextToken;
  } while (next);
  return {
    status: stack?.StackStatus ?? 'MISSING',
    resources,
    outputs: Object.fromEntries((stack?.Outputs ?? []).map((o) => [o.OutputKey as string, o.OutputValue as string])),
    events,
    failed: events.filter((e) => /FAILED|ROLLBACK/.test(e.ResourceStatus ?? '')),
  };
}

export function isComplete(outcome: StackOutcome): boolean {
  return /^(CREATE|UPDATE)_COMPLETE$/.test(outcome.status) && outcome.failed.length === 0;
}
