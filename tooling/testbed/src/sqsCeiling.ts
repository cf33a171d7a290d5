/**
 * The test bed's SQS ceiling: how fast a bare consumer can drain a queue of moto's, so that a benchmark of nth
 * in queue mode can tell nth's time from moto's. {@link measure} sends `messages` Spot-notice-sized messages
 * with SendMessageBatch to a fresh queue, then drains them with `receivers` concurrent loops of ReceiveMessage
 * (10) + DeleteMessageBatch, and deletes the queue. Needs only a running moto.
 *
 * `scripts/sqs-ceiling.ts` prints it from the command line; `apps/deployment/bench/queue.bench.ts` prints it
 * beside nth's own figures.
 */
import { randomBytes } from "node:crypto"
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient
} from "@aws-sdk/client-sqs"

export interface Options {
  /** moto's endpoint (the test bed's `AWS_ENDPOINT_URL`). */
  readonly endpoint: string
  /** Messages sent, then received and deleted. Default 1000. */
  readonly messages?: number
  /** Concurrent receive-and-delete loops. Default 1. */
  readonly receivers?: number
  /** Give up the drain after this long. Default 600 s. */
  readonly timeoutMs?: number
}

export interface Result {
  readonly receivers: number
  readonly messages: number
  /** Seconds to send every message (SendMessageBatch of 10, one after the other). */
  readonly sendSeconds: number
  /** Seconds from the first ReceiveMessage until every message was received and deleted. */
  readonly drainSeconds: number
  /** ReceiveMessage calls made (empty answers included). */
  readonly receives: number
  /** Messages delivered more than once. */
  readonly duplicates: number
}

// About the size of the EventBridge envelope of a Spot interruption warning.
const body = (i: number) =>
  JSON.stringify({
    version: "0",
    id: `${i}-${randomBytes(8).toString("hex")}`,
    "detail-type": "EC2 Spot Instance Interruption Warning",
    source: "aws.ec2",
    account: "123456789012",
    time: new Date().toISOString(),
    region: "us-east-1",
    resources: [`arn:aws:ec2:us-east-1:123456789012:instance/i-${i.toString(16).padStart(17, "0")}`],
    detail: { "instance-id": `i-${i.toString(16).padStart(17, "0")}`, "instance-action": "terminate" }
  })

const seconds = (from: number) => (performance.now() - from) / 1000

/** Sends `messages` to a fresh queue, drains it with `receivers` loops, deletes the queue. */
export const measure = async (options: Options): Promise<Result> => {
  const total = options.messages ?? 1000
  const receivers = options.receivers ?? 1
  const timeoutSeconds = (options.timeoutMs ?? 600_000) / 1000
  const sqs = new SQSClient({
    endpoint: options.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    useQueueUrlAsEndpoint: false
  })
  try {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: `sqs-ceiling-${randomBytes(3).toString("hex")}` })
    )
    if (!QueueUrl) throw new Error("CreateQueue returned no URL")
    try {
      const sendStart = performance.now()
      for (let i = 0; i < total; i += 10) {
        const entries = Array.from({ length: Math.min(10, total - i) }, (_, j) => ({
          Id: String(j),
          MessageBody: body(i + j)
        }))
        const sent = await sqs.send(new SendMessageBatchCommand({ QueueUrl, Entries: entries }))
        if (sent.Failed?.length) throw new Error(`SendMessageBatch failed: ${JSON.stringify(sent.Failed)}`)
      }
      const sendSeconds = seconds(sendStart)

      const seen = new Set<string>()
      let duplicates = 0
      let receives = 0
      const drainStart = performance.now()
      const receiver = async () => {
        while (seen.size < total) {
          const { Messages = [] } = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 })
          )
          receives++
          if (Messages.length === 0) {
            if (seconds(drainStart) > timeoutSeconds)
              throw new Error(`gave up with ${seen.size}/${total} received`)
            continue
          }
          for (const message of Messages) {
            if (seen.has(message.MessageId!)) duplicates++
            seen.add(message.MessageId!)
          }
          const deleted = await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl,
              Entries: Messages.map((message, j) => ({
                Id: String(j),
                ReceiptHandle: message.ReceiptHandle!
              }))
            })
          )
          if (deleted.Failed?.length)
            throw new Error(`DeleteMessageBatch failed: ${JSON.stringify(deleted.Failed)}`)
        }
      }
      await Promise.all(Array.from({ length: receivers }, receiver))
      return {
        receivers,
        messages: total,
        sendSeconds,
        drainSeconds: seconds(drainStart),
        receives,
        duplicates
      }
    } finally {
      await sqs.send(new DeleteQueueCommand({ QueueUrl }))
    }
  } finally {
    sqs.destroy()
  }
}

/** One line: receivers, send time and rate, drain time and rate, receives, duplicates. */
export const format = (result: Result): string =>
  [
    `receivers=${result.receivers}`,
    `send ${result.messages} in ${result.sendSeconds.toFixed(2)} s (${(result.messages / result.sendSeconds).toFixed(0)} msg/s)`,
    `receive+delete ${result.messages} in ${result.drainSeconds.toFixed(2)} s (${(result.messages / result.drainSeconds).toFixed(0)} msg/s)`,
    `${result.receives} receives`,
    `${result.duplicates} delivered twice`
  ].join("  ")
