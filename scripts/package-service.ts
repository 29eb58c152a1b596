/**
 * `osls package`, run on a copy of the service in a temporary folder: osls empties the service's `.serverless/` and
 * serverless-esbuild builds in its `.esbuild/`, so packaging the checkout itself would clear a developer's own build
 * output. The copy links the checkout's node_modules. No AWS settings reach osls: packaging needs no credentials and
 * no network (docs/development.md, "Pitfalls of the toolchain": offline packaging), and the test proves it.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(__dirname, '..');
/** What the functions' bundles and osls read: the sources, the service file and the local plugin. */
const SERVICE_FILES = ['serverless.yml', 'package.json', 'tsconfig.json', 'functions', 'lib', 'deploy', 'types'];

export interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Condition?: string;
}

export interface CfnTemplate {
  Parameters?: Record<string, Record<string, unknown>>;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Description?: string; Condition?: string }>;
}

export interface Packaged {
  /** The temporary service copy; delete it with `close()`. */
  dir: string;
  /** Where the zips and the CloudFormation templates are. */
  out: string;
  code: number;
  output: string;
  /** The update-stack template (the one `osls deploy` applies), if packaging succeeded. */
  template: CfnTemplate | undefined;
  templatePath: string;
  close(): Promise<void>;
}

/** The environment without any AWS_* setting, so a credential or region on the machine cannot leak in. */
export function offlineEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('AWS_')) env[name] = value;
  return { ...env, SLS_TELEMETRY_DISABLED: '1', ...extra };
}

/** A copy of the service in a temporary folder, with the checkout's node_modules linked in. */
export async function copyService(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fileserver-service-'));
  await Promise.all(SERVICE_FILES.map((name) => cp(join(root, name), join(dir, name), { recursive: true })));
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** Packages a copy of the service with `--param=name=value` for each entry of `params`. */
export async function packageService(params: Record<string, string>, extraArgs: string[] = []): Promise<Packaged> {
  const dir = await copyService();
  const out = join(dir, 'packaged');
  const args = ['package', '--package', out, ...Object.entries(params).map(([k, v]) => `--param=${k}=${v}`)];
  let code = 0;
  let output: string;
  try {
    const done = await run(join(root, 'node_modules/.bin/osls'), [...args, ...extraArgs], {
      cwd: dir,
      env: offlineEnv(),
      maxBuffer: 16 * 1024 * 1024,
    });
    output = done.stdout + done.stderr;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    code = typeof e.code === 'number' ? e.code : 1;
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  const templatePath = join(out, 'cloudformation-template-update-stack.json');
  const template =
    code === 0 ? (JSON.parse(await readFile(templatePath, 'utf8')) as CfnTemplate) : (undefined as undefined);
  return {
    dir,
    out,
    code,
    output,
    template,
    templatePath,
    close: () => rm(dir, { recursive: true, force: true }),
  };
}
