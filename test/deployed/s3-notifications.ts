/**
 * The archiver's trigger as the generated template configures it. The bucket's NotificationConfiguration (event and
 * key filter rules) is given to LocalStack's S3 as is, with an SQS queue in place of the function (LocalStack runs
 * no Lambda here), so S3 itself decides which writes notify. A poller hands each event to the function's emulator
 * the way S3's asynchronous invocation does: on a function error it retries up to the EventInvokeConfig's
 * MaximumRetryAttempts (at once, where Lambda waits a minute, then two), then sends Lambda's failure record to the
 * on-failure destination queue, created in LocalStack under the template's QueueName, signed as the function (Lambda
 * delivers with the function's role), so the recorder checks that call against the role too.
 */

import { PutBucketNotificationConfigurationCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { LambdaEmulator } from './lambda-emulator';
import type { DeployedTemplate } from './template';

export interface NotificationBridge {
  /** Queue URL of the archiver's on-failure destination, if the template has one. */
  failureQueueUrl: string | undefined;
  /** Resolves once no event is queued or being handled. */
  idle(): Promise<void>;
  /** Events handed to functions, and those that failed every attempt. */
  stats: { delivered: number; failed: number };
  close(): Promise<void>;
}

export async function startNotificationBridge(
  template: DeployedTemplate,
  s3: S3Client,
  sqs: SQSClient,
  bucket: string,
  emulators: Map<string, LambdaEmulator>,
  /** An SQS client signing as the function (its access key, through the recorder). */
  asFunction: (functionLogicalId: string) => SQSClient,
): Promise<NotificationBridge> {
  const specs = template.s3Notifications();
  const queues: { url: string; emulator: LambdaEmulator; functionLogicalId: string }[] = [];
  const configurations = [];
  for (const [index, spec] of specs.entries()) {
    const emulator = emulators.get(spec.functionLogicalId);
    if (!emulator) throw new Error(`the notification names ${spec.functionLogicalId}, which is not running`);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `deployed-tier-s3-events-${index}` }));
    const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    queues.push({ url: QueueUrl as string, emulator, functionLogicalId: spec.functionLogicalId });
    configurations.push({
      QueueArn: attributes.Attributes?.QueueArn,
      Events: [spec.event],
      Filter: { Key: { FilterRules: spec.filterRules.map((r) => ({ Name: r.Name, Value: r.Value })) } },
    });
  }
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: bucket,
      NotificationConfiguration: { QueueConfigurations: configurations as never },
    }),
  );

  let failureQueueUrl: string | undefined;
  const asyncConfig = new Map(queues.map((q) => [q.functionLogicalId, template.asyncInvoke(q.functionLogicalId)]));
  for (const config of asyncConfig.values()) {
    if (!config.onFailureQueueLogicalId) continue;
    const queue = template.resource(config.onFailureQueueLogicalId);
    const name = template.resolveString(queue.Properties.QueueName);
    failureQueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl;
  }

  const stats = { delivered: 0, failed: 0 };
  let inFlight = 0;
  let stopped = false;
  const loops = queues.map(async (queue) => {
    const config = asyncConfig.get(queue.functionLogicalId);
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
            const attempts = 1 + (config?.maximumRetryAttempts ?? 2);
            let last: { payload: string; functionError: boolean } | undefined;
            for (let attempt = 1; attempt <= attempts; attempt++) {
              last = await queue.emulator.invoke(event);
              if (!last.functionError) break;
            }
            if (last?.functionError) {
              stats.failed++;
              if (failureQueueUrl) {
                await asFunction(queue.functionLogicalId).send(
                  new SendMessageCommand({
                    QueueUrl: failureQueueUrl,
                    MessageBody: JSON.stringify(
                      failureRecord(template, queue.functionLogicalId, event, last, attempts),
                    ),
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
    failureQueueUrl,
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
function failureRecord(
  template: DeployedTemplate,
  functionLogicalId: string,
  event: unknown,
  last: { payload: string },
  attempts: number,
): unknown {
  return {
    version: '1.0',
    timestamp: new Date().toISOString(),
    requestContext: {
      requestId: crypto.randomUUID(),
      functionArn: `${template.arn(functionLogicalId)}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: attempts,
    },
    requestPayload: event,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: JSON.parse(last.payload),
  };
}
