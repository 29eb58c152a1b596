/**
 * Each function as Lambda holds it after `osls deploy` (osls-deploy.ts): what the emulator runs is read back from
 * LocalStack's Lambda, not from the template: the handler, runtime, memory, timeout and environment of
 * GetFunctionConfiguration, the code from GetFunction's download URL, and the asynchronous invocation settings of
 * GetFunctionEventInvokeConfig. (read-back.ts compares all of these with the template first.)
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  GetFunctionCommand,
  GetFunctionEventInvokeConfigCommand,
  type LambdaClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import type { AsyncInvoke } from './s3-notifications';
import type { DeployedTemplate, FunctionSpec } from './template';

export interface DeployedFunctionSpec {
  spec: FunctionSpec;
  arn: string;
  /** The code Lambda stores, downloaded. */
  zipPath: string;
  asyncInvoke: AsyncInvoke;
}

export async function deployedFunctions(
  template: DeployedTemplate,
  lambda: LambdaClient,
  into: string,
): Promise<DeployedFunctionSpec[]> {
  const found: DeployedFunctionSpec[] = [];
  for (const fromTemplate of template.functions()) {
    const { Configuration: c, Code } = await lambda.send(new GetFunctionCommand({ FunctionName: fromTemplate.name }));
    if (!c?.FunctionArn || !Code?.Location) throw new Error(`Lambda has no function ${fromTemplate.name}`);
    const download = await fetch(Code.Location);
    if (!download.ok) throw new Error(`the code of ${fromTemplate.name}: ${download.status} from ${Code.Location}`);
    const zipPath = join(into, `${fromTemplate.logicalId}.zip`);
    await writeFile(zipPath, Buffer.from(await download.arrayBuffer()));
    found.push({
      spec: {
        logicalId: fromTemplate.logicalId,
        roleLogicalId: fromTemplate.roleLogicalId,
        name: c.FunctionName as string,
        zip: zipPath,
        handler: c.Handler as string,
        runtime: c.Runtime as string,
        memoryMb: c.MemorySize as number,
        timeoutSeconds: c.Timeout as number,
        environment: c.Environment?.Variables ?? {},
      },
      arn: c.FunctionArn.replace(/:\$LATEST$/, ''),
      zipPath,
      asyncInvoke: await asyncInvokeOf(lambda, fromTemplate.name),
    });
  }
  return found;
}

/** Lambda's defaults when a function has no EventInvokeConfig: 2 retries, no destination. */
async function asyncInvokeOf(lambda: LambdaClient, name: string): Promise<AsyncInvoke> {
  try {
    const config = await lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: name }));
    return {
      maximumRetryAttempts: config.MaximumRetryAttempts ?? 2,
      onFailure: config.DestinationConfig?.OnFailure?.Destination,
    };
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return { maximumRetryAttempts: 2, onFailure: undefined };
    throw err;
  }
}
