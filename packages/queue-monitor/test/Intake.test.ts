/**
 * The intake on an in-memory SQS with a fixed latency per call: what it can do when SQS is not the bottleneck
 * (moto answers a receive in time proportional to the queue's length), its bounds, and its error rules.
 */
import type { SQSClient } from "@aws-sdk/client-sqs"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Schedule, Stream } from "effect"
import { Intake } from "../src/index.ts"

interface FakeMessage {
  readonly id: string
  readonly body: string
  readonly sentAt: number
  receiveCount: number
  visibleAt: number
  handle: string | undefined
  deleted: boolean
}

/** Enough of SQS for the intake: one standard queue, every call answered after `latency` ms. */
class FakeSqs {
  readonly messages: Array<FakeMessage> = []
  readonly calls: Record<string, number> = {}
  private handles = 0
  /** The next calls to answer 503, one each. */
  unavailable = 0

  readonly latency: number

  constructor(latency: number) {
    this.latency = latency
  }

  add(count: number) {
    for (let i = 0; i < count; i++) {
      const id = `m-${this.messages.length}`
      this.messages.push({
        id,
        body: JSON.stringify({ n: this.messages.length }),
        sentAt: Date.now(),
        receiveCount: 0,
        visibleAt: 0,
        handle: undefined,
        deleted: false
      })
    }
  }

  inFlight() {
    const now = Date.now()
    return this.messages.filter((m) => !m.deleted && m.visibleAt > now).length
  }

  remaining() {
    return this.messages.filter((m) => !m.deleted).length
  }

  destroy() {}

  async send(command: { readonly input: Record<string, unknown> }, options?: { abortSignal?: AbortSignal }) {
    const name = command.constructor.name
    this.calls[name] = (this.calls[name] ?? 0) + 1
    if (this.unavailable > 0) {
      this.unavailable -= 1
      throw Object.assign(new Error("Service Unavailable"), {
        name: "ServiceUnavailable",
        $fault: "server",
        $metadata: { httpStatusCode: 503 }
      })
    }
    await this.sleep(this.latency, options?.abortSignal)
    const input = command.input as {
      readonly WaitTimeSeconds?: number
      readonly MaxNumberOfMessages: number
      readonly VisibilityTimeout: number
      readonly Entries: ReadonlyArray<{ Id: string; ReceiptHandle: string; VisibilityTimeout?: number }>
    }
    switch (name) {
      case "GetQueueAttributesCommand":
        return { Attributes: {} }
      case "ReceiveMessageCommand": {
        const deadline = Date.now() + (input.WaitTimeSeconds ?? 0) * 1000
        for (;;) {
          const now = Date.now()
          const ready = this.messages
            .filter((m) => !m.deleted && m.visibleAt <= now)
            .slice(0, input.MaxNumberOfMessages)
          if (ready.length > 0 || now >= deadline) {
            return {
              Messages: ready.map((m) => {
                m.receiveCount += 1
                m.visibleAt = now + input.VisibilityTimeout * 1000
                m.handle = `h-${++this.handles}`
                return {
                  MessageId: m.id,
                  ReceiptHandle: m.handle,
                  Body: m.body,
                  Attributes: {
                    ApproximateReceiveCount: String(m.receiveCount),
                    SentTimestamp: String(m.sentAt)
                  }
                }
              })
            }
          }
          await this.sleep(5, options?.abortSignal)
        }
      }
      case "DeleteMessageBatchCommand":
      case "ChangeMessageVisibilityBatchCommand": {
        const Successful: Array<{ Id: string }> = []
        const Failed: Array<{ Id: string; SenderFault: boolean; Code: string; Message: string }> = []
        for (const entry of input.Entries) {
          const m = this.messages.find((m) => m.handle === entry.ReceiptHandle && !m.deleted)
          if (m === undefined) {
            Failed.push({
              Id: entry.Id,
              SenderFault: true,
              Code: "ReceiptHandleIsInvalid",
              Message: "invalid"
            })
            continue
          }
          if (name === "DeleteMessageBatchCommand") m.deleted = true
          else m.visibleAt = Date.now() + (entry.VisibilityTimeout ?? 0) * 1000
          Successful.push({ Id: entry.Id })
        }
        return { Successful, Failed }
      }
      default:
        throw new Error(`FakeSqs: ${name}`)
    }
  }

  private sleep(ms: number, signal: AbortSignal | undefined) {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(Object.assign(new Error("aborted"), { name: "AbortError" }))
      const timer = setTimeout(resolve, ms)
      signal?.addEventListener("abort", () => {
        clearTimeout(timer)
        reject(Object.assign(new Error("aborted"), { name: "AbortError" }))
      })
    })
  }
}

const asClient = (fake: FakeSqs) => fake as unknown as SQSClient
const queueUrl = "https://sqs.us-east-1.amazonaws.com/123456789012/nth"

describe("Intake on an in-memory SQS (20 ms a call)", () => {
  const drain = (receivers: number, count: number) =>
    Effect.gen(function* () {
      const fake = new FakeSqs(20)
      fake.add(count)
      const start = Date.now()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({ queueUrl, client: asClient(fake), receivers })
          yield* intake.messages.pipe(
            Stream.mapEffect((m) => m.complete, { concurrency: 100, unordered: true }),
            Stream.take(count),
            Stream.runDrain
          )
        })
      )
      const seconds = (Date.now() - start) / 1000
      console.log(
        `${receivers} receiver(s), ${count} messages: ${seconds.toFixed(2)} s, ${(count / seconds).toFixed(0)} ` +
          `messages/s (${fake.calls.ReceiveMessageCommand} receives, ${fake.calls.DeleteMessageBatchCommand} delete batches)`
      )
      expect(fake.remaining()).toBe(0)
      return { seconds, fake }
    })

  it.live("drains 1000 messages: 1 receiver, then 4 (pipelined), deletes batched by 10", () =>
    Effect.gen(function* () {
      const one = yield* drain(1, 1000)
      const four = yield* drain(4, 1000)
      expect(four.seconds).toBeLessThan(one.seconds)
      // 1000 deletes in about 100 calls (a few more when a batch is sent before it is full).
      expect(four.fake.calls.DeleteMessageBatchCommand).toBeLessThanOrEqual(130)
      expect(four.fake.calls.DeleteMessageCommand).toBeUndefined()
    })
  )

  it.live("health: not ready while SQS fails, ready once a call is answered", () =>
    Effect.gen(function* () {
      const fake = new FakeSqs(5)
      fake.unavailable = 8
      fake.add(1)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({
            queueUrl,
            client: asClient(fake),
            retry: Schedule.spaced("1 millis").pipe(Schedule.upTo({ times: 1 })),
            receiveRetry: Schedule.spaced("30 millis"),
            onError: () => Effect.void
          })
          expect(intake.health()).toMatchObject({
            ready: false,
            reason: expect.stringContaining("Service Unavailable")
          })
          yield* intake.messages.pipe(Stream.take(1), Stream.runDrain)
          expect(intake.health()).toEqual({ ready: true })
        })
      )
    })
  )

  it.live("holds at most maxInFlight messages, and receives again as soon as some are settled", () =>
    Effect.gen(function* () {
      const fake = new FakeSqs(5)
      fake.add(200)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({
            queueUrl,
            client: asClient(fake),
            receivers: 4,
            maxInFlight: 25,
            stopGrace: "100 millis"
          })
          // A consumer that holds everything it is given.
          const held = yield* intake.messages.pipe(Stream.take(25), Stream.runCollect)
          yield* Effect.sleep("300 millis")
          expect(intake.stats()).toMatchObject({ received: 25, held: 25 })
          expect(fake.inFlight()).toBe(25)
          // Five settled: five more are received (no more).
          yield* Effect.forEach(held.slice(0, 5), (m) => m.complete, { discard: true })
          yield* Effect.sleep("300 millis")
          expect(intake.stats()).toMatchObject({ received: 30, completed: 5, held: 25 })
          expect(fake.inFlight()).toBe(25)
        })
      )
      // The stop gave the 25 held (20 pulled, 5 never pulled) back.
      expect(fake.inFlight()).toBe(0)
      expect(fake.remaining()).toBe(195)
    })
  )

  it.live("Intake.stream owns its intake: the messages it did not hand on are given back when it ends", () =>
    Effect.gen(function* () {
      const fake = new FakeSqs(5)
      fake.add(30)
      const bodies = yield* Intake.stream({ queueUrl, client: asClient(fake), stopGrace: "100 millis" }).pipe(
        Stream.mapEffect((m) => Effect.as(m.complete, m.body)),
        Stream.take(3),
        Stream.runCollect
      )
      expect(bodies).toHaveLength(3)
      expect(fake.remaining()).toBe(27)
      expect(fake.inFlight()).toBe(0)
    })
  )

  it.live("an abandoned hold (maxHold) is no longer extended and frees its place", () =>
    Effect.gen(function* () {
      const fake = new FakeSqs(1)
      fake.add(2)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const intake = yield* Intake.make({
            queueUrl,
            client: asClient(fake),
            receivers: 1,
            maxInFlight: 1,
            visibilityTimeoutSeconds: 1,
            maxHold: "600 millis"
          })
          const [first] = yield* intake.messages.pipe(Stream.take(1), Stream.runCollect)
          yield* Effect.sleep("1500 millis")
          // At least the first (the second, received in its place, may be abandoned too by now on a busy machine).
          expect(intake.stats().abandoned).toBeGreaterThanOrEqual(1)
          // Its place went to the second message.
          expect(intake.stats().received).toBeGreaterThanOrEqual(2)
          // Settling it late still tries (here its receipt is stale: it was received again).
          yield* Effect.ignore(first!.complete)
        })
      )
    })
  )
})

describe("Intake errors", () => {
  it("classifies SDK errors", () => {
    const error = (fields: object) => Object.assign(new Error("boom"), fields)
    const reason = (fields: object) => Intake.fromUnknown(error(fields), "ReceiveMessage").reason
    expect(
      reason({
        name: "QueueDoesNotExist",
        Code: "AWS.SimpleQueueService.NonExistentQueue",
        $metadata: { httpStatusCode: 400 }
      })
    ).toBe("QueueNotFound")
    expect(reason({ name: "AccessDenied", $metadata: { httpStatusCode: 403 } })).toBe("Denied")
    expect(reason({ name: "InvalidClientTokenId", $metadata: { httpStatusCode: 403 } })).toBe("Denied")
    expect(reason({ name: "RequestThrottled", $metadata: { httpStatusCode: 400 } })).toBe("Throttled")
    expect(reason({ name: "OverLimit", $metadata: { httpStatusCode: 400 } })).toBe("Throttled")
    expect(reason({ name: "Whatever", $metadata: { httpStatusCode: 503 } })).toBe("ServerError")
    expect(reason({ code: "ECONNRESET" })).toBe("Unreachable")
    expect(reason({ name: "TimeoutError" })).toBe("Unreachable")
    expect(reason({ name: "CredentialsProviderError" })).toBe("NoCredentials")
    expect(reason({ name: "InvalidParameterValue", $metadata: { httpStatusCode: 400 } })).toBe("Failed")
    expect(
      Intake.fromUnknown(
        error({
          name: "InvalidParameterValue",
          message: "Value x for parameter ReceiptHandle is invalid. Reason: Message does not exist.",
          $metadata: { httpStatusCode: 400 }
        }),
        "ChangeMessageVisibilityBatch"
      ).reason
    ).toBe("ReceiptHandleInvalid")
    const throttled = Intake.fromUnknown(error({ name: "ThrottlingException" }), "ReceiveMessage")
    expect(throttled).toBeInstanceOf(Intake.IntakeError)
    expect(Intake.isRetryable(throttled)).toBe(true)
    expect(Intake.endsStream(throttled)).toBe(false)
  })

  it("ends the stream on denial, a missing queue or a malformed request; retries the rest", () => {
    const of = (reason: Intake.Reason, status?: number) =>
      new Intake.IntakeError({
        reason,
        operation: "ReceiveMessage",
        message: reason,
        ...(status === undefined ? {} : { status })
      })
    expect(Intake.endsStream(of("Denied", 403))).toBe(true)
    expect(Intake.endsStream(of("QueueNotFound", 400))).toBe(true)
    expect(Intake.endsStream(of("Failed", 400))).toBe(true)
    expect(Intake.endsStream(of("Failed"))).toBe(false)
    expect(Intake.endsStream(of("NoCredentials"))).toBe(false)
    expect(Intake.endsStream(of("Unreachable"))).toBe(false)
  })

  it("grows the release delay with the receive count, capped at 5 minutes", () => {
    expect(
      [1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => Duration.toSeconds(Intake.defaultReleaseDelay(n)))
    ).toEqual([5, 10, 20, 40, 80, 160, 300, 300, 300])
  })
})
