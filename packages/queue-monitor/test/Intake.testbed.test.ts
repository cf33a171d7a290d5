/**
 * The intake against the test bed's SQS (moto). Each test has its own queue (no EventBridge rule, so other
 * runs' events do not land in it), deleted when the file ends.
 */
import { randomBytes } from "node:crypto"
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient
} from "@aws-sdk/client-sqs"
import { describe, expect, it } from "@effect/vitest"
import { AwsEvents, Fixtures, useTestBed } from "@nth/testbed"
import { Duration, Effect, Fiber, Result, Schedule, Stream } from "effect"
import { Intake, QueueMessage } from "../src/index.ts"

const bed = useTestBed()
const env = bed.clients.env
const sqs = bed.clients.sqs

/** A client for moto that counts the calls it sends, by command, and lets a test meddle with them. */
const countingClient = (
  meddle: {
    readonly before?: (command: string, input: Record<string, unknown>) => void
    readonly after?: (command: string, output: Record<string, unknown>) => void
  } = {}
) => {
  const client = new SQSClient({
    endpoint: env.AWS_ENDPOINT_URL,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    maxAttempts: 1
  })
  const calls: Record<string, number> = {}
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? "?"
      calls[command] = (calls[command] ?? 0) + 1
      meddle.before?.(command, args.input as Record<string, unknown>)
      const result = await next(args)
      meddle.after?.(command, result.output as unknown as Record<string, unknown>)
      return result
    },
    { step: "initialize", name: "countCalls" }
  )
  bed.defer(() => client.destroy())
  return { client, calls: (command: string) => calls[command] ?? 0 }
}

const createQueue = (attributes: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: Fixtures.uniqueName("intake"),
        Attributes: { MessageRetentionPeriod: "600", ...attributes }
      })
    )
    if (!QueueUrl) throw new Error("CreateQueue returned no URL")
    bed.defer(() => sqs.send(new DeleteQueueCommand({ QueueUrl })))
    return QueueUrl
  })

const queueArn = (queueUrl: string) =>
  Effect.promise(async () => {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] })
    )
    return Attributes!.QueueArn!
  })

const sendBodies = (queueUrl: string, bodies: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    for (let i = 0; i < bodies.length; i += 10) {
      const result = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: bodies.slice(i, i + 10).map((MessageBody, j) => ({ Id: String(j), MessageBody }))
        })
      )
      if ((result.Failed ?? []).length > 0)
        throw new Error(`SendMessageBatch: ${JSON.stringify(result.Failed)}`)
    }
  })

/** Visible and in-flight messages, by SQS's (here exact) counts. */
const countsOf = (queueUrl: string) =>
  Effect.promise(async () => {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
      })
    )
    return {
      visible: Number(Attributes?.ApproximateNumberOfMessages),
      inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible)
    }
  })

/** What another consumer gets with one receive (it holds what it gets for `visibility` seconds). */
const receiveElsewhere = (queueUrl: string, waitTimeSeconds = 0, visibility = 30) =>
  Effect.promise(async () => {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: waitTimeSeconds,
        VisibilityTimeout: visibility,
        MessageSystemAttributeNames: ["ApproximateReceiveCount"]
      })
    )
    return (Messages ?? []).map((m) => ({
      body: m.Body ?? "",
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount)
    }))
  })

const elapsedSince = (start: number) => Date.now() - start

describe("Intake against moto", () => {
  it.live("receives messages with their attributes; complete deletes them", () =>
    Effect.gen(function* () {
      const queueUrl = yield* createQueue()
      const before = Date.now()
      yield* sendBodies(queueUrl, ["a", "b", "c"])
      // The intake's own client: the SDK's default credential chain (the test bed's environment).
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({ queueUrl, endpoint: env.AWS_ENDPOINT_URL, waitTimeSeconds: 1 })
          expect(intake.redrivePolicy).toBeUndefined()
          const messages = yield* intake.messages.pipe(Stream.take(3), Stream.runCollect)
          expect(messages.map((m) => m.body).sort()).toEqual(["a", "b", "c"])
          for (const m of messages) {
            expect(m.receiveCount).toBe(1)
            expect(m.messageId).toMatch(/\S/)
            expect(m.sentAt.getTime()).toBeGreaterThanOrEqual(before - 1000)
            expect(m.sentAt.getTime()).toBeLessThanOrEqual(Date.now())
          }
          expect(yield* countsOf(queueUrl)).toEqual({ visible: 0, inFlight: 3 })
          yield* Effect.forEach(messages, (m) => m.complete, { concurrency: "unbounded", discard: true })
          // A second settle answers as the first did, without a call.
          yield* messages[0]!.complete
          expect(intake.stats()).toMatchObject({ received: 3, completed: 3, held: 0 })
        })
      )
      expect(yield* countsOf(queueUrl)).toEqual({ visible: 0, inFlight: 0 })
    })
  )

  it.live("release: the message comes back after the given visibility, received a second time", () =>
    Effect.gen(function* () {
      const queueUrl = yield* createQueue()
      yield* sendBodies(queueUrl, ["again"])
      const { client } = countingClient()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({ queueUrl, client, waitTimeSeconds: 1 })
          const seen: Array<{ receiveCount: number; at: number }> = []
          let releasedAt = 0
          yield* intake.messages.pipe(
            Stream.take(2),
            Stream.runForEach((m) =>
              Effect.gen(function* () {
                seen.push({ receiveCount: m.receiveCount, at: Date.now() })
                if (m.receiveCount === 1) {
                  yield* m.release("2 seconds")
                  releasedAt = Date.now()
                } else yield* m.complete
              })
            )
          )
          expect(seen.map((s) => s.receiveCount)).toEqual([1, 2])
          const away = seen[1]!.at - releasedAt
          expect(away).toBeGreaterThanOrEqual(1500)
          expect(away).toBeLessThan(5000)
          expect(intake.stats()).toMatchObject({ released: 1, completed: 1 })
        })
      )
      expect(yield* countsOf(queueUrl)).toEqual({ visible: 0, inFlight: 0 })
    })
  )

  it.live(
    "a message held three times its visibility timeout is extended and never reaches a second consumer",
    () =>
      Effect.gen(function* () {
        const queueUrl = yield* createQueue()
        yield* sendBodies(queueUrl, ["held"])
        const { client, calls } = countingClient()
        yield* Effect.scoped(
          Effect.gen(function* () {
            const intake = yield* Intake.make({
              queueUrl,
              client,
              visibilityTimeoutSeconds: 2,
              waitTimeSeconds: 1,
              // Holding one message, the intake stops receiving: its own polls cannot take a reappearing copy.
              maxInFlight: 1
            })
            const [message] = yield* intake.messages.pipe(Stream.take(1), Stream.runCollect)
            // Another consumer polls for 6 s (three visibility timeouts).
            const start = Date.now()
            const stolen: Array<string> = []
            while (elapsedSince(start) < 6000)
              stolen.push(...(yield* receiveElsewhere(queueUrl, 1)).map((m) => m.body))
            expect(stolen).toEqual([])
            expect(intake.stats().extended).toBeGreaterThanOrEqual(3)
            expect(calls("ChangeMessageVisibilityBatchCommand")).toBe(intake.stats().visibilityBatches)
            yield* message!.complete
          })
        )
        expect(yield* countsOf(queueUrl)).toEqual({ visible: 0, inFlight: 0 })
      })
  )

  it.live("30 completions are deleted in at most 4 DeleteMessageBatch calls", () =>
    Effect.gen(function* () {
      const queueUrl = yield* createQueue()
      yield* sendBodies(
        queueUrl,
        Array.from({ length: 30 }, (_, i) => `m${i}`)
      )
      const { client, calls } = countingClient()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({ queueUrl, client, waitTimeSeconds: 1, maxInFlight: 30 })
          const messages = yield* intake.messages.pipe(Stream.take(30), Stream.runCollect)
          yield* Effect.forEach(messages, (m) => m.complete, { concurrency: "unbounded", discard: true })
          console.log(`30 completions: ${calls("DeleteMessageBatchCommand")} DeleteMessageBatch calls`)
          expect(calls("DeleteMessageBatchCommand")).toBeLessThanOrEqual(4)
          expect(calls("DeleteMessageCommand")).toBe(0)
        })
      )
      expect(yield* countsOf(queueUrl)).toEqual({ visible: 0, inFlight: 0 })
    })
  )

  it.live("a partly failed batch answers each entry: a retryable entry is retried, another fails alone", () =>
    Effect.gen(function* () {
      const queueUrl = yield* createQueue()
      yield* sendBodies(queueUrl, ["ok-1", "ok-2", "flaky", "broken"])
      let flakyFailures = 0
      let flakyId = ""
      const handles = new Map<string, string>()
      const { client, calls } = countingClient({
        // "broken" is deleted through a receipt handle SQS does not know; "flaky" fails once with a server error.
        before: (command, input) => {
          if (command !== "DeleteMessageBatchCommand") return
          for (const entry of input.Entries as Array<{ Id: string; ReceiptHandle: string }>) {
            if (entry.ReceiptHandle === handles.get("flaky") && flakyFailures === 0) flakyId = entry.Id
            if (entry.ReceiptHandle === handles.get("broken")) entry.ReceiptHandle = "not-a-receipt-handle"
          }
        },
        after: (command, output) => {
          if (command !== "DeleteMessageBatchCommand" || flakyFailures > 0) return
          const result = output as { Successful?: Array<{ Id: string }>; Failed?: Array<object> }
          const flaky = result.Successful?.find((s) => s.Id === flakyId)
          if (flaky === undefined) return
          flakyFailures += 1
          result.Successful = result.Successful!.filter((s) => s !== flaky)
          result.Failed = [
            ...(result.Failed ?? []),
            { Id: flaky.Id, SenderFault: false, Code: "InternalError", Message: "try again" }
          ]
        }
      })
      const errors: Array<Intake.IntakeError> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({
            queueUrl,
            client,
            waitTimeSeconds: 1,
            onError: (error) => Effect.sync(() => errors.push(error))
          })
          const messages = yield* intake.messages.pipe(Stream.take(4), Stream.runCollect)
          const byBody = new Map(messages.map((m) => [m.body, m]))
          for (const m of messages) handles.set(m.body, m.receiptHandle)
          const results = yield* Effect.forEach(
            ["ok-1", "ok-2", "flaky", "broken"],
            (body) => Effect.result(byBody.get(body)!.complete),
            { concurrency: "unbounded" }
          )
          expect(results.slice(0, 3).every(Result.isSuccess)).toBe(true)
          const broken = results[3]!
          expect(Result.isFailure(broken) && broken.failure.reason).toBe("ReceiptHandleInvalid")
          expect(Result.isFailure(broken) && broken.failure.messageId).toBe(byBody.get("broken")!.messageId)
          expect(flakyFailures).toBe(1)
          // One call for the four, one retry for "flaky" alone.
          expect(calls("DeleteMessageBatchCommand")).toBe(2)
          expect(errors.map((e) => e.reason)).toEqual(["ServerError"])
        })
      )
      // "broken" was not deleted, and no longer held once its settle failed: it is left to its visibility
      // timeout (not given back by the stop, not extended).
      expect(yield* countsOf(queueUrl)).toEqual({ visible: 0, inFlight: 1 })
    })
  )

  it.live("poison, with a redrive policy: released with a growing delay, then moved to the DLQ by SQS", () =>
    Effect.gen(function* () {
      const deadLetterUrl = yield* createQueue()
      const deadLetterArn = yield* queueArn(deadLetterUrl)
      const queueUrl = yield* createQueue({
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterArn, maxReceiveCount: 3 })
      })
      yield* sendBodies(queueUrl, ["not json"])
      const { client } = countingClient()
      const outcomes: Array<string> = []
      const times: Array<number> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({
            queueUrl,
            client,
            waitTimeSeconds: 1,
            releaseDelay: (receiveCount) => Duration.seconds(receiveCount)
          })
          expect(intake.redrivePolicy).toEqual({ deadLetterTargetArn: deadLetterArn, maxReceiveCount: 3 })
          yield* intake.messages.pipe(
            Stream.take(3),
            Stream.runForEach((m) =>
              Effect.gen(function* () {
                expect(Result.isFailure(QueueMessage.decode(m.body))).toBe(true)
                times.push(Date.now())
                outcomes.push(`${m.receiveCount}:${yield* m.poison}`)
              })
            )
          )
          // After its third receive it was released at once; the next receive moves it to the DLQ.
          const moved = yield* receiveElsewhere(deadLetterUrl, 5)
          expect(moved.map((m) => m.body)).toEqual(["not json"])
        })
      )
      expect(outcomes).toEqual(["1:Redrive", "2:Redrive", "3:Redrive"])
      // Away 1 s, then 2 s.
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(900)
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(1900)
      expect(yield* countsOf(queueUrl)).toEqual({ visible: 0, inFlight: 0 })
    })
  )

  it.live("poison, without a redrive policy: released until the bound, then deleted", () =>
    Effect.gen(function* () {
      const queueUrl = yield* createQueue()
      yield* sendBodies(queueUrl, ["{"])
      const { client } = countingClient()
      const outcomes: Array<string> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({
            queueUrl,
            client,
            waitTimeSeconds: 1,
            maxReceivesBeforeDrop: 3,
            releaseDelay: () => "1 second"
          })
          yield* intake.messages.pipe(
            Stream.take(3),
            Stream.runForEach((m) =>
              Effect.map(m.poison, (outcome) => {
                outcomes.push(`${m.receiveCount}:${outcome}`)
              })
            )
          )
          expect(intake.stats()).toMatchObject({ released: 2, dropped: 1 })
        })
      )
      expect(outcomes).toEqual(["1:Released", "2:Released", "3:Dropped"])
      expect(yield* countsOf(queueUrl)).toEqual({ visible: 0, inFlight: 0 })
    })
  )

  it.live("stop: held messages are given back at once, one completed within the grace is deleted", () =>
    Effect.gen(function* () {
      const queueUrl = yield* createQueue()
      yield* sendBodies(queueUrl, ["s0", "s1", "s2", "s3", "s4"])
      const { client, calls } = countingClient()
      let closing = 0
      const held = yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({
            queueUrl,
            client,
            waitTimeSeconds: 1,
            // A visibility a test would notice: given back, the messages are visible at once all the same.
            visibilityTimeoutSeconds: 60,
            // Holding all five, the intake has no receive in flight when it stops.
            maxInFlight: 5,
            stopGrace: "500 millis"
          })
          const messages = yield* intake.messages.pipe(Stream.take(5), Stream.runCollect)
          messages.sort((a, b) => a.body.localeCompare(b.body))
          // s0 is completed 100 ms into the stop's grace (in a fiber of the test, not of the intake).
          yield* Effect.forkDetach(Effect.sleep("100 millis").pipe(Effect.andThen(messages[0]!.complete)))
          closing = Date.now()
          return messages
        })
      )
      const closed = elapsedSince(closing)
      console.log(`stop with four messages held: ${closed} ms`)
      expect(closed).toBeGreaterThanOrEqual(450)
      expect(closed).toBeLessThan(2000)
      const back = yield* receiveElsewhere(queueUrl)
      expect(back.map((m) => m.body).sort()).toEqual(["s1", "s2", "s3", "s4"])
      expect(back.every((m) => m.receiveCount === 2)).toBe(true)
      expect(calls("ChangeMessageVisibilityBatchCommand")).toBe(1)
      const late = yield* Effect.flip(held[1]!.complete)
      expect(late.reason).toBe("Stopped")
    })
  )

  it.live("stop: messages the consumer never pulled are given back without waiting for the grace", () =>
    Effect.gen(function* () {
      const queueUrl = yield* createQueue()
      yield* sendBodies(queueUrl, ["u0", "u1", "u2"])
      const { client } = countingClient()
      let closing = 0
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({ queueUrl, client, waitTimeSeconds: 1, maxInFlight: 3 })
          yield* Effect.promise(async () => {
            for (;;) {
              if (intake.stats().received === 3) return
              await new Promise((resolve) => setTimeout(resolve, 20))
            }
          })
          closing = Date.now()
        })
      )
      expect(elapsedSince(closing)).toBeLessThan(1000)
      expect((yield* receiveElsewhere(queueUrl)).map((m) => m.body).sort()).toEqual(["u0", "u1", "u2"])
    })
  )

  it.live("several receivers drain 200 messages", () =>
    Effect.gen(function* () {
      const drain = (receivers: number) =>
        Effect.gen(function* () {
          const queueUrl = yield* createQueue()
          yield* sendBodies(
            queueUrl,
            Array.from({ length: 200 }, (_, i) => JSON.stringify({ n: i }))
          )
          const { client, calls } = countingClient()
          let duplicates = 0
          const start = Date.now()
          yield* Effect.scoped(
            Effect.gen(function* () {
              const intake = yield* Intake.make({ queueUrl, client, receivers, waitTimeSeconds: 1 })
              // A standard queue delivers at least once: the shared test bed's moto, which does not lock a
              // queue while receiving, sometimes hands one message to two concurrent receives. Copies are
              // completed like the rest (a copy's delete may fail: the queue's counts below are the check), and
              // counted.
              const seen = new Set<string>()
              yield* intake.messages.pipe(
                Stream.mapEffect((m) => Effect.as(Effect.ignore(m.complete), m.body), {
                  concurrency: 100,
                  unordered: true
                }),
                Stream.takeUntil((body) => {
                  if (seen.has(body)) duplicates += 1
                  seen.add(body)
                  return seen.size === 200
                }),
                Stream.runDrain
              )
            })
          )
          const seconds = elapsedSince(start) / 1000
          console.log(
            `${receivers} receiver(s): 200 messages received and deleted in ${seconds.toFixed(2)} s ` +
              `(${(200 / seconds).toFixed(0)} messages/s; ${calls("ReceiveMessageCommand")} receives, ` +
              `${calls("DeleteMessageBatchCommand")} delete batches, ${duplicates} copies received twice)`
          )
          expect(yield* countsOf(queueUrl)).toEqual({ visible: 0, inFlight: 0 })
          return seconds
        })
      yield* drain(1)
      yield* drain(4)
    })
  )

  it.live("a Spot warning delivered by an EventBridge rule is received, decoded and completed", () =>
    Effect.gen(function* () {
      const queue = yield* Effect.promise(() => Fixtures.createEventQueue(bed.clients, "intake"))
      bed.defer(() => Fixtures.deleteEventQueue(bed.clients, queue))
      const instanceId = `i-${randomBytes(9).toString("hex").slice(0, 17)}`
      yield* Effect.promise(() =>
        Fixtures.publishEvents(bed.clients, [AwsEvents.spotInterruptionWarning(instanceId)])
      )
      const { client } = countingClient()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({ queueUrl: queue.queueUrl, client, waitTimeSeconds: 1 })
          // Other runs sharing the test bed publish events too: only this instance's is looked at.
          const [event] = yield* intake.messages.pipe(
            Stream.filterMap((m) => {
              const decoded = QueueMessage.decode(m.body)
              if (Result.isSuccess(decoded) && decoded.success._tag === "Events") {
                const mine = decoded.success.events.find((e) => e.instanceId === instanceId)
                if (mine !== undefined) return Result.succeed({ message: m, event: mine })
              }
              return Result.failVoid
            }),
            Stream.take(1),
            Stream.runCollect
          )
          expect(event!.event.kind).toBe("SpotInterruptionNotice")
          yield* event!.message.complete
        })
      )
    })
  )
})

describe("Intake errors against moto", () => {
  it.live("make fails with QueueNotFound when the queue does not exist", () =>
    Effect.gen(function* () {
      const { client } = countingClient()
      const error = yield* Effect.flip(
        Effect.scoped(Intake.make({ queueUrl: `${env.AWS_ENDPOINT_URL}/123456789012/no-such-queue`, client }))
      )
      expect(error).toBeInstanceOf(Intake.IntakeError)
      expect(error.reason).toBe("QueueNotFound")
      expect(error.operation).toBe("GetQueueAttributes")
    })
  )

  it.live("the stream ends with QueueNotFound when the queue is deleted under it", () =>
    Effect.gen(function* () {
      const queueUrl = yield* createQueue()
      const { client } = countingClient()
      const errors: Array<string> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({
            queueUrl,
            client,
            waitTimeSeconds: 1,
            receivers: 2,
            onError: (error) => Effect.sync(() => errors.push(error.reason))
          })
          const fiber = yield* Effect.forkChild(Stream.runDrain(intake.messages))
          yield* Effect.promise(() => sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })))
          const error = yield* Effect.flip(Fiber.join(fiber)).pipe(Effect.timeout("10 seconds"))
          expect(error.reason).toBe("QueueNotFound")
          expect(error.operation).toBe("ReceiveMessage")
        })
      )
      expect(errors).toContain("QueueNotFound")
    })
  )

  it.live("throttled and failed receives are retried and reported, and the stream goes on", () =>
    Effect.gen(function* () {
      const queueUrl = yield* createQueue()
      yield* sendBodies(queueUrl, ["after the storm"])
      let refused = 0
      const { client } = countingClient({
        before: (command) => {
          if (command !== "ReceiveMessageCommand" || refused >= 4) return
          refused += 1
          throw refused % 2 === 1
            ? Object.assign(new Error("Rate exceeded"), {
                name: "ThrottlingException",
                $metadata: { httpStatusCode: 400 }
              })
            : Object.assign(new Error("We encountered an internal error."), {
                name: "InternalError",
                $metadata: { httpStatusCode: 500 }
              })
        }
      })
      const errors: Array<string> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({
            queueUrl,
            client,
            waitTimeSeconds: 1,
            receivers: 1,
            receiveRetry: Schedule.spaced("20 millis"),
            onError: (error) => Effect.sync(() => errors.push(`${error.operation}:${error.reason}`))
          })
          const [message] = yield* intake.messages.pipe(Stream.take(1), Stream.runCollect)
          expect(message!.body).toBe("after the storm")
          yield* message!.complete
          expect(intake.stats().receiveErrors).toBe(4)
        })
      )
      expect(errors).toEqual([
        "ReceiveMessage:Throttled",
        "ReceiveMessage:ServerError",
        "ReceiveMessage:Throttled",
        "ReceiveMessage:ServerError"
      ])
    })
  )
})
