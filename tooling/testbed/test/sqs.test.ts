/**
 * The test bed's SQS keeps SQS's semantics while it keeps its messages in structures that make a receive cost
 * the messages it returns, not the queue's length (moto/nth_moto_server.py): visibility timeouts,
 * ChangeMessageVisibility, deletes, receive counts, redrive to a dead-letter queue, delays, long polling, FIFO
 * groups and deduplication, and one delivery per message among concurrent receivers.
 */
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type ReceiveMessageCommandInput,
  SendMessageBatchCommand,
  SendMessageCommand
} from "@aws-sdk/client-sqs"
import { describe, expect, it } from "vitest"
import { Fixtures, useTestBed } from "../src/index.ts"

const bed = useTestBed()
const sqs = bed.clients.sqs
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const createQueue = async (attributes: Record<string, string> = {}, suffix = "") => {
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: `${Fixtures.uniqueName("sqs")}${suffix}`, Attributes: attributes })
  )
  if (!QueueUrl) throw new Error("CreateQueue returned no URL")
  bed.defer(() => sqs.send(new DeleteQueueCommand({ QueueUrl })))
  return QueueUrl
}

const queueArn = async (QueueUrl: string) =>
  (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["QueueArn"] }))).Attributes!
    .QueueArn!

const counts = async (QueueUrl: string) => {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ["All"] })
  )
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed)
  }
}

const receive = async (QueueUrl: string, input: Partial<ReceiveMessageCommandInput> = {}) =>
  (
    await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ["All"],
        ...input
      })
    )
  ).Messages ?? []

const receiveCount = (message: Message) => Number(message.Attributes?.ApproximateReceiveCount)

describe("SQS", () => {
  it("hides a received message for its visibility timeout, then delivers it again with a higher receive count", async () => {
    const queue = await createQueue()
    const { MessageId } = await sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: "once" }))

    const [first] = await receive(queue, { VisibilityTimeout: 1 })
    expect(first?.MessageId).toBe(MessageId)
    expect(receiveCount(first!)).toBe(1)
    expect(await receive(queue)).toEqual([])
    expect(await counts(queue)).toEqual({ visible: 0, inFlight: 1, delayed: 0 })

    await sleep(1200)
    const [second] = await receive(queue, { VisibilityTimeout: 1 })
    expect(second?.MessageId).toBe(MessageId)
    expect(receiveCount(second!)).toBe(2)
    expect(second!.ReceiptHandle).not.toBe(first!.ReceiptHandle)
  })

  it("extends a message's invisibility with ChangeMessageVisibility, and shows it at once with 0", async () => {
    const queue = await createQueue()
    await sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: "slow" }))
    const [message] = await receive(queue, { VisibilityTimeout: 1 })
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queue,
        ReceiptHandle: message!.ReceiptHandle!,
        VisibilityTimeout: 3
      })
    )
    await sleep(1500)
    expect(await receive(queue)).toEqual([])

    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queue,
        ReceiptHandle: message!.ReceiptHandle!,
        VisibilityTimeout: 0
      })
    )
    const [again] = await receive(queue, { VisibilityTimeout: 1 })
    expect(again?.MessageId).toBe(message!.MessageId)
    expect(receiveCount(again!)).toBe(2)
  })

  it("never delivers a deleted message again, and accepts the same delete twice", async () => {
    const queue = await createQueue()
    await sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: "gone" }))
    const [message] = await receive(queue, { VisibilityTimeout: 1 })
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queue, ReceiptHandle: message!.ReceiptHandle! }))
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queue, ReceiptHandle: message!.ReceiptHandle! }))
    await sleep(1200)
    expect(await receive(queue)).toEqual([])
    expect(await counts(queue)).toEqual({ visible: 0, inFlight: 0, delayed: 0 })

    const unknown = await sqs
      .send(new DeleteMessageCommand({ QueueUrl: queue, ReceiptHandle: "not-a-receipt-handle" }))
      .catch((error: Error) => error)
    expect((unknown as Error).name).toBe("ReceiptHandleIsInvalid")
  })

  it("moves a message to the dead-letter queue on the receive after its maxReceiveCount-th", async () => {
    const dlq = await createQueue()
    const queue = await createQueue({
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await queueArn(dlq), maxReceiveCount: 2 })
    })
    const { MessageId } = await sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: "poison" }))

    // VisibilityTimeout 0: the message is visible again at once.
    expect((await receive(queue, { VisibilityTimeout: 0 })).map(receiveCount)).toEqual([1])
    expect((await receive(queue, { VisibilityTimeout: 0 })).map(receiveCount)).toEqual([2])
    expect(await receive(queue, { VisibilityTimeout: 0 })).toEqual([])

    const moved = await receive(dlq)
    expect(moved.map((m) => [m.MessageId, m.Body])).toEqual([[MessageId, "poison"]])
    expect(await counts(queue)).toEqual({ visible: 0, inFlight: 0, delayed: 0 })
  })

  it("holds a delayed message back for its DelaySeconds", async () => {
    const queue = await createQueue()
    await sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: "later", DelaySeconds: 1 }))
    expect(await receive(queue)).toEqual([])
    expect(await counts(queue)).toEqual({ visible: 0, inFlight: 0, delayed: 1 })
    // A long poll wakes when the delay ends, not at its own end.
    const started = Date.now()
    const [message] = await receive(queue, { WaitTimeSeconds: 10 })
    expect(message?.Body).toBe("later")
    expect(Date.now() - started).toBeLessThan(3000)
  })

  it("answers a long poll as soon as a message is sent, and an idle one when its wait ends", async () => {
    const queue = await createQueue()
    const idleStart = Date.now()
    expect(await receive(queue, { WaitTimeSeconds: 1 })).toEqual([])
    expect(Date.now() - idleStart).toBeGreaterThanOrEqual(900)

    const polling = receive(queue, { WaitTimeSeconds: 10 })
    await sleep(500)
    const sentAt = Date.now()
    const { MessageId } = await sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: "wake" }))
    const messages = await polling
    expect(messages.map((m) => m.MessageId)).toEqual([MessageId])
    expect(Date.now() - sentAt).toBeLessThan(1000)
  })

  it("delivers each message once among concurrent receivers, and a receive's cost does not grow with the queue", async () => {
    const queue = await createQueue()
    const total = 1000
    for (let i = 0; i < total; i += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queue,
          Entries: Array.from({ length: 10 }, (_, j) => ({ Id: String(j), MessageBody: `m${i + j}` }))
        })
      )
    }
    expect(await counts(queue)).toEqual({ visible: total, inFlight: 0, delayed: 0 })

    // moto's own SQS took ~1.1 s for one receive from a queue of 1000.
    const timed = performance.now()
    const first = await receive(queue, { VisibilityTimeout: 60 })
    expect(performance.now() - timed).toBeLessThan(500)

    const bodies: Array<string> = first.map((m) => m.Body!)
    const drain = async () => {
      for (;;) {
        const messages = await receive(queue, { VisibilityTimeout: 60 })
        if (messages.length === 0) return
        bodies.push(...messages.map((m) => m.Body!))
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queue,
            Entries: messages.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! }))
          })
        )
      }
    }
    await Promise.all([drain(), drain(), drain(), drain()])
    expect(bodies).toHaveLength(total)
    expect(new Set(bodies).size).toBe(total)
    expect(await counts(queue)).toEqual({ visible: 0, inFlight: first.length, delayed: 0 })
  })

  it("FIFO: keeps a group's order, holds a group back while one of its messages is in flight, drops duplicates", async () => {
    const queue = await createQueue({ FifoQueue: "true" }, ".fifo")
    const send = (body: string, group: string, dedup = body) =>
      sqs.send(
        new SendMessageCommand({
          QueueUrl: queue,
          MessageBody: body,
          MessageGroupId: group,
          MessageDeduplicationId: dedup
        })
      )
    await send("a1", "a")
    await send("a2", "a")
    await send("b1", "b")
    await send("a1 again", "a", "a1") // a duplicate of a1, within the deduplication interval
    expect((await counts(queue)).visible).toBe(3)

    const [a1] = await receive(queue, { MaxNumberOfMessages: 1, VisibilityTimeout: 30 })
    expect(a1?.Body).toBe("a1")
    // Group a waits for a1; b is free.
    expect((await receive(queue, { VisibilityTimeout: 30 })).map((m) => m.Body)).toEqual(["b1"])
    expect(await receive(queue)).toEqual([])
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queue, ReceiptHandle: a1!.ReceiptHandle! }))
    expect((await receive(queue)).map((m) => m.Body)).toEqual(["a2"])
  })
})
