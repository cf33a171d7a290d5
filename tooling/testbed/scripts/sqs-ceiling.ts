/**
 * The test bed's SQS ceiling: how fast a bare consumer can drain a queue of moto's, so that a benchmark of nth
 * in queue mode can tell nth's time from moto's. Sends `--messages` Spot-notice-sized messages with
 * SendMessageBatch, then drains them with `--receivers` concurrent loops of ReceiveMessage (10) +
 * DeleteMessageBatch, once per receiver count, each on a fresh queue. Needs only a running moto.
 *
 *   node tooling/testbed/scripts/sqs-ceiling.ts [--endpoint URL] [--messages 1000] [--receivers 1,4]
 *
 * The endpoint defaults to AWS_ENDPOINT_URL (`. .testbed/env`).
 */
import { randomBytes } from "node:crypto"
import { parseArgs } from "node:util"
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient
} from "@aws-sdk/client-sqs"

const { values } = parseArgs({
  options: {
    endpoint: { type: "string", default: process.env.AWS_ENDPOINT_URL },
    messages: { type: "string", default: "1000" },
    receivers: { type: "string", default: "1,4" }
  }
})
if (!values.endpoint) throw new Error("no endpoint: pass --endpoint or set AWS_ENDPOINT_URL (. .testbed/env)")
const total = Number(values.messages)
const receiverCounts = values.receivers.split(",").map(Number)

const sqs = new SQSClient({
  endpoint: values.endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  useQueueUrlAsEndpoint: false
})

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

const run = async (receivers: number) => {
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
          if (seconds(drainStart) > 600) throw new Error(`gave up with ${seen.size}/${total} received`)
          continue
        }
        for (const message of Messages) {
          if (seen.has(message.MessageId!)) duplicates++
          seen.add(message.MessageId!)
        }
        const deleted = await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl,
            Entries: Messages.map((message, j) => ({ Id: String(j), ReceiptHandle: message.ReceiptHandle! }))
          })
        )
        if (deleted.Failed?.length)
          throw new Error(`DeleteMessageBatch failed: ${JSON.stringify(deleted.Failed)}`)
      }
    }
    await Promise.all(Array.from({ length: receivers }, receiver))
    const drainSeconds = seconds(drainStart)
    console.log(
      [
        `receivers=${receivers}`,
        `send ${total} in ${sendSeconds.toFixed(2)} s (${(total / sendSeconds).toFixed(0)} msg/s)`,
        `receive+delete ${total} in ${drainSeconds.toFixed(2)} s (${(total / drainSeconds).toFixed(0)} msg/s)`,
        `${receives} receives`,
        `${duplicates} delivered twice`
      ].join("  ")
    )
  } finally {
    await sqs.send(new DeleteQueueCommand({ QueueUrl }))
  }
}

console.log(`SQS ceiling against ${values.endpoint}: ${total} messages`)
for (const receivers of receiverCounts) await run(receivers)
