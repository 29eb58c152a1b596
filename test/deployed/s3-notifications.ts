/**
 * The archiver's trigger as CloudFormation created it in LocalStack. The bucket's notification configuration is read
 * back from S3 (its events, key filter rules and target functions, as `osls deploy` left them); only its targets are
 * swapped: each Lambda target becomes an SQS queue with the same events and filter rules, since LocalStack runs no
 * function here, so S3 itself still decides which writes notify. A poller hands each event to the target function's
 * emulator the way S3's asynchronous invocation does, with the settings read back from the function's
 * EventInvokeConfig: on a function error it retries up to MaximumRetryAttempts (at once, where Lambda waits a minute,
 * then two), then sends Lambda's failure record to the on-failure destination, the queue CloudFormation created,
 * signed as the function (Lambda delivers with the function's role), so the recorder checks that call against the
 * role too.
 */

import {
  GetBucketNotificationConfigurationCommand,
  PutBucketNotificationConfigurationCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { LambdaEmulator } from './lambda-emulator';

export interface NotificationBridge {
  /** Queue URL of the archiver's on-failure destination, if it has one. */
  failureQueueUrl: string | undefined;
  /** Resolves once no event is queued or being handled. */
  idle(): Promise<void>;
  /** Events handed to functions, and those that failed every attempt. */
  stats: { delivered: number; failed: number };
  close(): Promise<void>;
}

/** A function's asynchronous invocation settings, as Lambda holds them (GetFunctionEventInvokeConfig). */
export interface AsyncInvoke {
  maximumRetryAttempts: number;
  /** ARN of the SQS queue of the on-failure destination, if any. */
  onFailure: string | undefined;
}

export interface DeployedFunction {
  logicalId: string;
  arn: string;
  emulator: LambdaEmulator;
  asyncInvoke: AsyncInvoke;
}

export async function startNotificationBridge(
  s3: S3Client,
  sqs: SQSClient,
  bucket: string,
  functions: DeployedFunction[],
  /** An SQS client signing as the function (its access key, through the recorder). */
  asFunction: (functionLogicalId: string) => SQSClient,
): Promise<NotificationBridge> {
  const deployed = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
  const targets = deployed.LambdaFunctionConfigurations ?? [];
  if (targets.length === 0) throw new Error(`CloudFormation gave ${bucket} no Lambda notification`);
  const queues: { url: string; fn: DeployedFunction }[] = [];
  const configurations = [];
  for (const [index, target] of targets.entries()) {
    const fn = functions.find((f) => f.arn === target.LambdaFunctionArn);
    if (!fn) throw new Error(`the bucket notifies ${target.LambdaFunctionArn}, which is not running`);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `deployed-tier-s3-events-${index}` }));
    const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    queues.push({ url: QueueUrl as string, fn });
    configurations.push({ QueueArn: attributes.Attributes?.QueueArn, Events: target.Events, Filter: target.Filter });
  }
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: bucket,
      NotificationConfiguration: { QueueConfigurations: configurations as never },
    }),
  );

  const failureQueues = new Map<string, string>();
  for (const { fn } of queues) {
    const arn = fn.asyncInvoke.onFailure;
    if (!arn) continue;
    const name = arn.split(':').pop() as string;
    failureQueues.set(fn.logicalId, (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl as string);
  }

  const stats = { delivered: 0, failed: 0 };
  let inFlight = 0;
  let stopped = false;
  const loops = queues.map(async (queue) => {
    const failureQueueUrl = failureQueues.get(queue.fn.logicalId);
    while (!stopped) {
      const { Messages = [] } = await sqs
        .send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }))
        .catch(() => ({ Messages: [] }));
      for (const message of Messages) {
        inFlight++;
        try {
          const event = JSON.parse(message.Body ?? '{}') as { Event?: string; Records?: unknown[] };
          if (event.Event !== 's3:TestEvent' && Array.isArray(event.Records)) {
            stats.delivered++;
            const attempts = 1 + queue.fn.asyncInvoke.maximumRetryAttempts;
            let last: { payload: string; functionError: boolean } | undefined;
            for (let attempt = 1; attempt <= attempts; attempt++) {
              last = await queue.fn.emulator.invoke(event);
              if (!last.functionError) break;
            }
            if (last?.functionError) {
              stats.failed++;
              if (failureQueueUrl) {
                await asFunction(queue.fn.logicalId).send(
                  new SendMessageCommand({
                    QueueUrl: failureQueueUrl,
                    MessageBody: JSON.stringify(failureRecord(queue.fn.arn, event, last, attempts)),
                  }),
                );
              }
            }
          }
          await sqs.send(new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: message.ReceiptHandle }));
        } finally {
          inFlight--;
        }
      }
    }
  });

  return {
    failureQueueUrl: [...failureQueues.values()][0],
    stats,
    async idle() {
      const deadline = Date.now() + 120_000;
      for (;;) {
        let queued = 0;
        for (const queue of queues) {
          const { Attributes = {} } = await sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: queue.url,
              AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
            }),
          );
          queued +=
            Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible);
        }
        if (queued === 0 && inFlight === 0) return;
        if (Date.now() > deadline) throw new Error('S3 notifications did not drain within 120 s');
        await new Promise((done) => setTimeout(done, 200));
      }
    },
    async close() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Lambda's on-failure destination record (AWS Lambda developer guide, "Capturing records of asynchronous invocations"). */
function failureRecord(functionArn: string, event: unknown, last: { payload: string }, attempts: number): unknown {
  return {
    version: '1.0',
    timestamp: new Date().toISOString(),
    requestContext: {
      requestId: crypto.randomUUID(),
      functionArn: `${functionArn}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: attempts,
    },
    requestPayload: event,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: JSON.parse(last.payload),
  };
}
