/**
 * The intake of queue mode: the messages of nth's SQS queue as an Effect {@link Stream}, each with the handles
 * that settle it.
 *
 * The Go handler receives once every 2 s, 10 messages at most, through a client the SDK limits to about 5
 * requests a second, and handles a batch's messages one after the other: a burst of 1000 notices took 203 s to
 * cordon, and a message whose drain outlives its visibility timeout (20 s by default, a drain takes up to 120 s)
 * reappears while it is being drained. Here:
 *
 * - **Pipelined receives**: `receivers` (4) long polls (`WaitTimeSeconds` 20, 10 messages each) are in flight
 *   at once. A receiver receives again as soon as its batch is handed on, so a slow drain never holds up the
 *   next receive; what bounds it is `maxInFlight` (100), the number of messages held at once (received and not
 *   yet settled, whether the consumer has pulled them yet or not): a receiver asks for no more messages than it
 *   may hold, and waits while none may be.
 * - **Held messages stay invisible**: while a message is held, its visibility timeout is extended (by
 *   `visibilityTimeoutSeconds`, once half of it is left, in `ChangeMessageVisibilityBatch` calls of up to 10)
 *   until it is settled or held for `maxHold` (1 h), so it never reappears to another consumer mid-drain.
 * - **Settling**: {@link Message} `complete` deletes it; `release(after?)` makes it visible again after `after`
 *   (default: a delay growing with its receive count, capped, see {@link defaultReleaseDelay}); `poison` hands an
 *   unreadable message to the queue's redrive policy, or deletes it once it was received
 *   `maxReceivesBeforeDrop` (5) times. Deletes and visibility changes are batched (up to 10 per call, a call
 *   sent within `batchWindow`, 5 ms, of its first entry) and retried on throttling, 5xx and network failures on
 *   a jittered {@link Schedule}; each entry of a partly failed batch gets its own answer.
 * - **Graceful stop**: when the scope closes, receiving stops (long polls are aborted), messages the consumer
 *   has not pulled are given back at once (visibility 0), messages it holds get `stopGrace` (2 s) to be settled
 *   before they are given back too, and pending deletes are flushed.
 * - **Errors**: a failed receive (throttling, 5xx, no answer, no credentials) is reported to `onError` and
 *   retried with a capped, jittered backoff: it never ends the stream. A denied receive or a queue that does
 *   not exist (or another request SQS rejects as malformed) ends it with an {@link IntakeError}.
 *
 * The IAM policy needs `sqs:ReceiveMessage`, `sqs:DeleteMessage` and `sqs:ChangeMessageVisibility` (the Go
 * handler's documented policy lacks the last, which it never calls), and may have `sqs:GetQueueAttributes`
 * (read once at start for the redrive policy; without it the queue is taken to have none).
 *
 * `@aws-sdk/client-sqs` is loaded when {@link make} runs, not when this module is imported.
 *
 * @since 0.1.0
 */
import type {
  BatchResultErrorEntry,
  ChangeMessageVisibilityBatchResult,
  DeleteMessageBatchResult,
  MessageAttributeValue,
  ReceiveMessageResult,
  SQSClient,
  SQSClientConfig
} from "@aws-sdk/client-sqs"
import {
  type Cause,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Queue,
  Result,
  Schedule,
  Schema,
  Scope,
  Semaphore,
  Stream
} from "effect"
import * as SdkError from "./internal/sdkError.ts"

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * Why an SQS call failed.
 *
 * - `Throttled`: SQS throttled the call (`RequestThrottled`, `ThrottlingException`, `OverLimit`, HTTP 429).
 * - `ServerError`: SQS answered 5xx (`InternalError`, `ServiceUnavailable`, …).
 * - `Unreachable`: no answer (connection refused or reset, DNS, the per-call timeout).
 * - `NoCredentials`: the SDK's credential chain found no credentials (`CredentialsProviderError`).
 * - `Denied`: SQS refused the credentials or the call (`AccessDenied`, `InvalidClientTokenId`, 401, 403, …).
 * - `QueueNotFound`: the queue does not exist (`QueueDoesNotExist`, `AWS.SimpleQueueService.NonExistentQueue`).
 * - `ReceiptHandleInvalid`: the message can no longer be settled through this receipt (it was deleted, or
 *   became visible again and was received by another consumer).
 * - `Stopped`: the intake was closed before the message was settled (it was given back to the queue).
 * - `Failed`: anything else (a request SQS rejects, a client without a region).
 *
 * `Throttled`, `ServerError` and `Unreachable` are retried before they are reported.
 *
 * @category models
 * @since 0.1.0
 */
export const Reason = Schema.Literals([
  "Throttled",
  "ServerError",
  "Unreachable",
  "NoCredentials",
  "Denied",
  "QueueNotFound",
  "ReceiptHandleInvalid",
  "Stopped",
  "Failed"
])

/**
 * @category models
 * @since 0.1.0
 */
export type Reason = typeof Reason.Type

/**
 * The SQS call that failed (`Stopped` names the call that was not made).
 *
 * @category models
 * @since 0.1.0
 */
export const Operation = Schema.Literals([
  "GetQueueAttributes",
  "ReceiveMessage",
  "DeleteMessageBatch",
  "ChangeMessageVisibilityBatch"
])

/**
 * @category models
 * @since 0.1.0
 */
export type Operation = typeof Operation.Type

/**
 * `code` is the AWS error code (`QueueDoesNotExist`, `ReceiptHandleIsInvalid`, …) when there is one; `status`
 * the HTTP status; `messageId` the message an entry of a batch call was about.
 *
 * @category errors
 * @since 0.1.0
 */
export class IntakeError extends Schema.TaggedError<IntakeError>()("IntakeError", {
  reason: Reason,
  operation: Operation,
  message: Schema.String,
  code: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  messageId: Schema.optional(Schema.String)
}) {}

const throttlingCodes = new Set([
  "RequestThrottled",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottledException",
  "TooManyRequestsException",
  "OverLimit",
  "KmsThrottled",
  "SlowDown"
])
const serverErrorCodes = new Set([
  "InternalError",
  "InternalFailure",
  "ServiceUnavailable",
  "Unavailable",
  "KmsUnavailable"
])
const deniedCodes = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "InvalidClientTokenId",
  "UnrecognizedClientException",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "RequestExpired",
  "MissingAuthenticationToken",
  "InvalidSecurity",
  "KmsAccessDenied",
  "OptInRequired"
])
const queueNotFoundCodes = new Set([
  "QueueDoesNotExist",
  "AWS.SimpleQueueService.NonExistentQueue",
  "NonExistentQueue"
])
const receiptCodes = new Set([
  "ReceiptHandleIsInvalid",
  "MessageNotInflight",
  "AWS.SimpleQueueService.MessageNotInflight",
  "InvalidReceiptHandle"
])

const reasonOfCode = (code: string | undefined, message: string): Reason | undefined => {
  if (code === undefined) return undefined
  if (throttlingCodes.has(code)) return "Throttled"
  if (serverErrorCodes.has(code)) return "ServerError"
  if (deniedCodes.has(code)) return "Denied"
  if (queueNotFoundCodes.has(code)) return "QueueNotFound"
  if (receiptCodes.has(code)) return "ReceiptHandleInvalid"
  // SQS's answer to a visibility change of a message that is not in flight any more.
  if (code === "InvalidParameterValue" && /receipt ?handle/i.test(message)) return "ReceiptHandleInvalid"
  return undefined
}

/**
 * Turns what an SDK call threw into an {@link IntakeError}.
 *
 * @category errors
 * @since 0.1.0
 */
export const fromUnknown = (error: unknown, operation: Operation): IntakeError => {
  if (error instanceof IntakeError) return error
  const fields = SdkError.fieldsOf(error)
  const { message, status } = fields
  // The SDK names the error by its JSON-protocol code (`QueueDoesNotExist`) and keeps the Query-protocol code
  // in `Code` (`AWS.SimpleQueueService.NonExistentQueue`).
  const awsCode = [fields.name, fields.Code].find(
    (value) => value !== undefined && value !== "" && value !== "Error"
  )
  const code = status !== undefined ? awsCode : (fields.code ?? awsCode)
  const reason: Reason =
    reasonOfCode(awsCode, message) ??
    (fields.name === "CredentialsProviderError"
      ? "NoCredentials"
      : status === 429
        ? "Throttled"
        : status !== undefined && status >= 500
          ? "ServerError"
          : status === 401 || status === 403
            ? "Denied"
            : SdkError.isNoAnswer(fields, fields.code)
              ? "Unreachable"
              : "Failed")
  return new IntakeError({
    reason,
    operation,
    message,
    ...(code !== undefined ? { code } : {}),
    ...(status !== undefined ? { status } : {})
  })
}

const fromBatchEntry = (
  entry: BatchResultErrorEntry,
  operation: Operation,
  messageId: string
): IntakeError => {
  const message = entry.Message ?? entry.Code ?? "failed"
  const reason: Reason = reasonOfCode(entry.Code, message) ?? (entry.SenderFault ? "Failed" : "ServerError")
  return new IntakeError({
    reason,
    operation,
    message: `${operation}: ${message}`,
    messageId,
    ...(entry.Code !== undefined ? { code: entry.Code } : {})
  })
}

/**
 * Whether a failure is worth another try: throttling, server errors and no answer.
 *
 * @category errors
 * @since 0.1.0
 */
export const isRetryable = (error: IntakeError): boolean =>
  error.reason === "Throttled" || error.reason === "ServerError" || error.reason === "Unreachable"

/**
 * Whether a failed receive ends the stream: the call is denied, the queue does not exist, or SQS rejects the
 * request itself (a 4xx other than throttling). Everything else is retried.
 *
 * @category errors
 * @since 0.1.0
 */
export const endsStream = (error: IntakeError): boolean =>
  error.reason === "Denied" ||
  error.reason === "QueueNotFound" ||
  (error.reason === "Failed" && error.status !== undefined && error.status >= 400 && error.status < 500)

// ---------------------------------------------------------------------------------------------------------------
// Models and options
// ---------------------------------------------------------------------------------------------------------------

/**
 * What {@link Message.poison} did.
 *
 * - `Redrive`: the queue has a redrive policy; the message was released (at once when it has been received
 *   `maxReceiveCount` times, else after {@link Options.releaseDelay}), and SQS moves it to the dead-letter queue
 *   on the receive after its `maxReceiveCount`-th.
 * - `Released`: no redrive policy and fewer than `maxReceivesBeforeDrop` receives: released after
 *   {@link Options.releaseDelay}, to be tried again.
 * - `Dropped`: no redrive policy, received `maxReceivesBeforeDrop` times: deleted.
 *
 * @category models
 * @since 0.1.0
 */
export type PoisonOutcome = "Redrive" | "Released" | "Dropped"

/**
 * A received message, held (kept invisible to other consumers) until it is settled by one of `complete`,
 * `release` or `poison`. The first settle wins; a later one waits for the first and answers as it did. Once
 * the stop has given the message back to the queue, a settle fails with `Stopped`. A message whose settle
 * failed (after retries) is no longer held: it is not extended, and comes back when its visibility timeout
 * ends.
 *
 * @category models
 * @since 0.1.0
 */
export interface Message {
  /** SQS's id of the message (the same on every receive). */
  readonly messageId: string
  readonly body: string
  /** `ApproximateReceiveCount`: 1 on the first receive. */
  readonly receiveCount: number
  /**
   * How many more times the message can be received before the queue's redrive policy moves it to the
   * dead-letter queue (SQS moves it on the receive after its `maxReceiveCount`-th): `0` means this receive is its
   * last, so a release sends it to the dead-letter queue. `undefined` when the queue has no redrive policy.
   *
   * @since 0.3.0
   */
  readonly receivesLeft: number | undefined
  /** `SentTimestamp`: when the message was sent to the queue. */
  readonly sentAt: Date
  /** When this receive's answer arrived (the Effect `Clock`). */
  readonly receivedAt: Date
  /** The message's attributes (`MessageAttributeNames: ["All"]`). */
  readonly attributes: Readonly<Record<string, MessageAttributeValue>>
  /** The receipt handle of this receive (settle through the handles below, not with it). */
  readonly receiptHandle: string
  /** Deletes the message (batched); succeeds once SQS has answered for it. */
  readonly complete: Effect.Effect<void, IntakeError>
  /**
   * Makes the message visible again after `after` (rounded up to whole seconds, at most 12 h; `0`: at once),
   * by default after {@link Options.releaseDelay} of its receive count, and stops holding it.
   */
  readonly release: (after?: Duration.Input) => Effect.Effect<void, IntakeError>
  /** For a message the caller cannot read: see {@link PoisonOutcome}. */
  readonly poison: Effect.Effect<PoisonOutcome, IntakeError>
}

/**
 * The queue's redrive policy (`RedrivePolicy`), as read once at start.
 *
 * @category models
 * @since 0.1.0
 */
export interface RedrivePolicy {
  readonly deadLetterTargetArn: string
  readonly maxReceiveCount: number
}

/**
 * Counters since start, for metrics and tests.
 *
 * @category models
 * @since 0.1.0
 */
export interface Stats {
  /** `ReceiveMessage` calls answered (empty or not). */
  readonly receiveCalls: number
  /** `ReceiveMessage` attempts that failed. */
  readonly receiveErrors: number
  readonly received: number
  readonly completed: number
  readonly released: number
  readonly dropped: number
  /** Visibility extensions SQS accepted. */
  readonly extended: number
  /** Messages given back at stop. */
  readonly givenBack: number
  /** Messages whose hold outlived `maxHold` (no longer extended). */
  readonly abandoned: number
  /** `DeleteMessageBatch` calls (attempts). */
  readonly deleteBatches: number
  /** `ChangeMessageVisibilityBatch` calls (attempts). */
  readonly visibilityBatches: number
  /** Messages held now. */
  readonly held: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The queue's URL (the Go handler's `QUEUE_URL`). */
  readonly queueUrl: string
  /**
   * The client to send with (one with middleware, say; set its `maxAttempts` to 1, or the SDK's retries
   * multiply the intake's). Default: one built from `region`, `endpoint`, `credentials` and `requestHandler`,
   * with the SDK's own retries off, destroyed with the scope.
   */
  readonly client?: SQSClient | undefined
  /**
   * Default: the region in the queue URL (`sqs.<region>.amazonaws.com`), else the SDK's (`AWS_REGION`, the
   * shared config file).
   */
  readonly region?: string | undefined
  /**
   * An endpoint override (the Go handler's `AWS_ENDPOINT`, for an emulator such as moto). Default: the SDK's
   * (`AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL`, else the queue URL's origin, else SQS's regional endpoint).
   */
  readonly endpoint?: string | undefined
  /** Default: the SDK's default credential chain (environment, web identity, SSO, shared files, IMDS/ECS). */
  readonly credentials?: SQSClientConfig["credentials"] | undefined
  /**
   * How the client sends its requests (one that goes through a proxy, say). Default: the SDK's (a keep-alive
   * `NodeHttpHandler`, which ignores `HTTPS_PROXY`).
   */
  readonly requestHandler?: SQSClientConfig["requestHandler"] | undefined
  /** How many long polls are in flight at once. Default 4. */
  readonly receivers?: number | undefined
  /**
   * At most this many messages are held at once: received and not yet settled (given to the consumer or
   * waiting for it). Bounds memory and how much one replica takes from others. Default 100.
   */
  readonly maxInFlight?: number | undefined
  /**
   * The `VisibilityTimeout` of each receive, in seconds (the Go handler's `SQS_MSG_VISIBILITY_TIMEOUT_SEC`),
   * and the length of each extension: how soon a message comes back if nth dies holding it. 1 to 43200.
   * Default 20.
   */
  readonly visibilityTimeoutSeconds?: number | undefined
  /** The long poll's `WaitTimeSeconds`, 0 to 20. Default 20. */
  readonly waitTimeSeconds?: number | undefined
  /**
   * For a queue without a redrive policy: `poison` deletes a message received this many times (before, it is
   * released with a growing delay). Default 5.
   */
  readonly maxReceivesBeforeDrop?: number | undefined
  /**
   * The visibility `release()` and `poison` give a message, from its receive count. Default
   * {@link defaultReleaseDelay}.
   */
  readonly releaseDelay?: ((receiveCount: number) => Duration.Input) | undefined
  /**
   * A held message is extended for at most this long after it was received, then left to reappear (and counted
   * `abandoned`): a message a consumer forgot to settle is not kept forever. SQS allows 12 h. Default 1 hour.
   */
  readonly maxHold?: Duration.Input | undefined
  /** How long a first delete (or visibility change) waits for others to share its call. Default 5 ms. */
  readonly batchWindow?: Duration.Input | undefined
  /** How many batch calls of one kind may be in flight at once. Default 4. */
  readonly batchConcurrency?: number | undefined
  /** At stop, how long messages the consumer holds get to be settled before they are given back. Default 2 s. */
  readonly stopGrace?: Duration.Input | undefined
  /** How long a call other than a receive may take before it counts as `Unreachable`. Default 10 s. */
  readonly requestTimeout?: Duration.Input | undefined
  /**
   * The delays between attempts of a delete, visibility change or `GetQueueAttributes` that failed with a
   * retryable error. Default {@link defaultRetry}.
   */
  readonly retry?: Schedule.Schedule<unknown, IntakeError> | undefined
  /** The delays between failed receives (never-ending). Default {@link defaultReceiveRetry}. */
  readonly receiveRetry?: Schedule.Schedule<unknown, IntakeError> | undefined
  /**
   * Told of every failure nobody else is told of: each failed receive attempt (retried or ending the stream),
   * each failed attempt of a batch call, each failed extension, a failed `GetQueueAttributes`. Errors of a
   * settle are also the settle's answer. Default: a warning in the Effect log.
   */
  readonly onError?: ((error: IntakeError) => Effect.Effect<void>) | undefined
}

/**
 * 100 ms, doubling, five retries, each delay scaled by a random factor in [0.8, 1.2] (about 3 s in all).
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultRetry: Schedule.Schedule<unknown, IntakeError> = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.upTo({ times: 5 })
)

/**
 * 200 ms, doubling up to 20 s, forever, each delay scaled by a random factor in [0.8, 1.2].
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultReceiveRetry: Schedule.Schedule<unknown, IntakeError> = Schedule.min([
  Schedule.exponential("200 millis"),
  Schedule.spaced("20 seconds")
]).pipe(Schedule.jittered)

/**
 * 5 s on the first receive, doubling with each receive, at most 5 minutes: 5, 10, 20, 40, 80, 160, 300, 300 s….
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultReleaseDelay = (receiveCount: number): Duration.Duration =>
  Duration.seconds(Math.min(300, 5 * 2 ** Math.max(0, Math.min(receiveCount, 30) - 1)))

const maxVisibility = 43_200

/** Whole seconds, 0 to 12 h, rounded up. */
const visibilitySeconds = (input: Duration.Input): number =>
  Math.min(maxVisibility, Math.max(0, Math.ceil(Duration.toMillis(Duration.fromInputUnsafe(input)) / 1000)))

const regionOfQueueUrl = (queueUrl: string): string | undefined =>
  /^https?:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\//.exec(queueUrl)?.[1]

// ---------------------------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface Service {
  /**
   * The received messages, in the order their receives answered. Ends (without error) after {@link stop} or
   * when the scope closes; fails with an {@link IntakeError} when a receive is denied or the queue is gone.
   * Meant for one consumer (two would share the messages between them).
   */
  readonly messages: Stream.Stream<Message, IntakeError>
  /** The queue's redrive policy, `undefined` when it has none (or it could not be read). */
  readonly redrivePolicy: RedrivePolicy | undefined
  /**
   * Stops receiving: in-flight receives are aborted, messages not yet pulled are given back at once, and the
   * stream ends once the consumer has pulled what it was already given. Held messages can still be settled
   * (until the scope closes). The scope's close does this first.
   */
  readonly stop: Effect.Effect<void>
  readonly stats: () => Stats
  /**
   * Whether SQS answers: the outcome of the last call (a receive waiting for messages counts as answered), for a
   * readiness probe. Not ready until the first call is answered.
   *
   * @since 0.3.0
   */
  readonly health: () => { readonly ready: boolean; readonly reason?: string | undefined }
}

/**
 * @category services
 * @since 0.1.0
 */
export class Intake extends Context.Service<Intake, Service>()("@nth/queue-monitor/Intake") {}

type State = "buffered" | "delivered" | "settling" | "settled" | "abandoned"

interface Held {
  readonly messageId: string
  readonly receiptHandle: string
  readonly receivedAt: number
  readonly receiveCount: number
  state: State
  /** When SQS makes the message visible again unless it is extended (the Effect clock, ms). */
  visibleAt: number
  /** Set while an extension is in flight. */
  extending: Deferred.Deferred<void> | undefined
  /** Set by the first settle; completed with its answer. */
  settled: Deferred.Deferred<void, IntakeError> | undefined
  /** Whether the message still counts against `maxInFlight`. */
  permit: boolean
  /** Set when the stop gives the message back: a settle then fails with `Stopped`. */
  givenBack: boolean
  message: Message
}

interface Pending {
  readonly held: Held
  /** The new visibility (visibility batches only). */
  readonly visibility: number
  readonly done: Deferred.Deferred<void, IntakeError>
}

type BatchResult = DeleteMessageBatchResult | ChangeMessageVisibilityBatchResult

interface Batcher {
  readonly submit: (held: Held, visibility?: number) => Effect.Effect<void, IntakeError>
  /** Sends what is queued, then stops taking entries. */
  readonly close: Effect.Effect<void>
}

const positiveInt = (name: string, value: number, min: number, max: number): Effect.Effect<number> =>
  Number.isInteger(value) && value >= min && value <= max
    ? Effect.succeed(value)
    : Effect.die(new RangeError(`Intake: ${name} must be an integer from ${min} to ${max}, not ${value}`))

/**
 * Starts receiving from the queue: reads its redrive policy, starts the receivers and the visibility keeper. The
 * scope's close stops it (see the module's description). Fails when the queue does not exist, or the
 * credentials are missing or refused.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Service, IntakeError, Scope.Scope> =>
  Effect.gen(function* () {
    const queueUrl = options.queueUrl
    const receivers = yield* positiveInt("receivers", options.receivers ?? 4, 1, 1000)
    const maxInFlight = yield* positiveInt("maxInFlight", options.maxInFlight ?? 100, 1, 120_000)
    const visibility = yield* positiveInt(
      "visibilityTimeoutSeconds",
      options.visibilityTimeoutSeconds ?? 20,
      1,
      maxVisibility
    )
    const waitTime = yield* positiveInt("waitTimeSeconds", options.waitTimeSeconds ?? 20, 0, 20)
    const maxReceivesBeforeDrop = yield* positiveInt(
      "maxReceivesBeforeDrop",
      options.maxReceivesBeforeDrop ?? 5,
      1,
      1_000_000
    )
    const batchConcurrency = yield* positiveInt("batchConcurrency", options.batchConcurrency ?? 4, 1, 100)
    const releaseDelay = options.releaseDelay ?? defaultReleaseDelay
    const maxHold = Duration.toMillis(Duration.fromInputUnsafe(options.maxHold ?? "1 hour"))
    const batchWindow = options.batchWindow ?? "5 millis"
    const stopGrace = Duration.toMillis(Duration.fromInputUnsafe(options.stopGrace ?? "2 seconds"))
    const requestTimeout = Duration.fromInputUnsafe(options.requestTimeout ?? "10 seconds")
    const receiveTimeout = Duration.sum(Duration.seconds(waitTime), requestTimeout)
    const retry = options.retry ?? defaultRetry
    const receiveRetry = options.receiveRetry ?? defaultReceiveRetry
    const onError =
      options.onError ??
      ((error: IntakeError) =>
        Effect.logWarning(`SQS intake: ${error.operation} failed (${error.reason}): ${error.message}`))

    const sdk = yield* Effect.promise(() => import("@aws-sdk/client-sqs"))
    const region = options.region ?? regionOfQueueUrl(queueUrl)
    const client =
      options.client ??
      (yield* Effect.acquireRelease(
        Effect.sync(
          () =>
            new sdk.SQSClient({
              ...(region ? { region } : {}),
              ...(options.endpoint ? { endpoint: options.endpoint } : {}),
              ...(options.credentials ? { credentials: options.credentials } : {}),
              ...(options.requestHandler ? { requestHandler: options.requestHandler } : {}),
              // Retries are the intake's (jittered schedules): the SDK's would multiply them.
              maxAttempts: 1
            })
        ),
        (client) => Effect.sync(() => client.destroy())
      ))

    const stats = {
      receiveCalls: 0,
      receiveErrors: 0,
      received: 0,
      completed: 0,
      released: 0,
      dropped: 0,
      extended: 0,
      givenBack: 0,
      abandoned: 0,
      deleteBatches: 0,
      visibilityBatches: 0
    }

    let health: ReturnType<Service["health"]> = { ready: false, reason: "SQS has not answered yet" }
    const call = <A>(
      operation: Operation,
      send: (signal: AbortSignal) => Promise<A>,
      timeout: Duration.Duration = requestTimeout
    ): Effect.Effect<A, IntakeError> =>
      Effect.tryPromise({ try: send, catch: (error) => fromUnknown(error, operation) }).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              new IntakeError({
                reason: "Unreachable",
                operation,
                message: `${operation}: no answer in ${Duration.format(timeout)}`
              })
            )
        }),
        Effect.tap(() =>
          Effect.sync(() => {
            health = { ready: true }
          })
        ),
        Effect.tapError((error) =>
          Effect.sync(() => {
            // The one call nth can do without (the Go handler's policy lacks it) says nothing of the queue.
            if (operation === "GetQueueAttributes" && error.reason === "Denied") return
            health = { ready: false, reason: `${error.operation} failed (${error.reason}): ${error.message}` }
          })
        )
      )

    // -- The redrive policy, read once -----------------------------------------------------------------------

    const redrivePolicy: RedrivePolicy | undefined = yield* call("GetQueueAttributes", (signal) =>
      client.send(
        new sdk.GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["RedrivePolicy"] }),
        {
          abortSignal: signal
        }
      )
    ).pipe(
      Effect.tapError(onError),
      Effect.retry({ schedule: retry, while: isRetryable }),
      Effect.map((result) => {
        const raw = result.Attributes?.RedrivePolicy
        if (!raw) return undefined
        try {
          const policy = JSON.parse(raw) as { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown }
          const maxReceiveCount = Number(policy.maxReceiveCount)
          return typeof policy.deadLetterTargetArn === "string" && Number.isInteger(maxReceiveCount)
            ? { deadLetterTargetArn: policy.deadLetterTargetArn, maxReceiveCount }
            : undefined
        } catch {
          return undefined
        }
      }),
      // A missing permission for this one call (the Go handler's policy lacks it), or a call still failing
      // after its retries, is passed over (and reported): the queue is taken to have no redrive policy. A queue
      // that does not exist, refused or missing credentials fail the start.
      Effect.catchIf(
        (error) =>
          isRetryable(error) ||
          (error.reason === "Denied" &&
            (error.code === "AccessDenied" || error.code === "AccessDeniedException")),
        () => Effect.undefined
      )
    )

    // -- State -----------------------------------------------------------------------------------------------

    const scope = yield* Effect.scope
    // Settles, extensions and batch senders run here, closed last by the stop (a scope being closed takes no
    // new fibers).
    const workScope = yield* Scope.make()
    const held = new Set<Held>()
    const permits = yield* Semaphore.make(maxInFlight)
    const output = yield* Queue.unbounded<Held, IntakeError | Cause.Done>()
    let closed = false

    const unhold = (h: Held, state: State) =>
      Effect.suspend(() => {
        h.state = state
        if (state === "settled" || state === "abandoned") held.delete(h)
        if (!h.permit) return Effect.void
        h.permit = false
        return permits.release(1)
      })

    // -- Batched deletes and visibility changes ---------------------------------------------------------------

    const makeBatcher = (
      operation: "DeleteMessageBatch" | "ChangeMessageVisibilityBatch",
      send: (entries: ReadonlyArray<Pending>, signal: AbortSignal) => Promise<BatchResult>
    ): Effect.Effect<Batcher> =>
      Effect.gen(function* () {
        const queue = yield* Queue.unbounded<Pending, Cause.Done>()

        const sendBatch = (batch: ReadonlyArray<Pending>) => {
          let remaining = batch
          const attempt = Effect.suspend(() => {
            const entries = remaining
            if (operation === "DeleteMessageBatch") stats.deleteBatches += 1
            else stats.visibilityBatches += 1
            return call(operation, (signal) => send(entries, signal)).pipe(
              Effect.flatMap((result) => {
                const answered = new Set<number>()
                const retried: Array<Pending> = []
                let retryError: IntakeError | undefined
                const completions: Array<Effect.Effect<boolean>> = []
                for (const ok of result.Successful ?? []) {
                  const index = Number(ok.Id)
                  const pending = entries[index]
                  if (pending === undefined) continue
                  answered.add(index)
                  completions.push(Deferred.succeed(pending.done, undefined))
                }
                for (const failed of result.Failed ?? []) {
                  const index = Number(failed.Id)
                  const pending = entries[index]
                  if (pending === undefined || answered.has(index)) continue
                  answered.add(index)
                  const error = fromBatchEntry(failed, operation, pending.held.messageId)
                  if (isRetryable(error)) {
                    retried.push(pending)
                    retryError ??= error
                  } else completions.push(Deferred.fail(pending.done, error))
                }
                entries.forEach((pending, index) => {
                  if (answered.has(index)) return
                  retried.push(pending)
                  retryError ??= new IntakeError({
                    reason: "ServerError",
                    operation,
                    message: `${operation}: no answer for the entry`,
                    messageId: pending.held.messageId
                  })
                })
                remaining = retried
                return Effect.andThen(
                  Effect.all(completions, { discard: true }),
                  retryError === undefined ? Effect.void : Effect.fail(retryError)
                )
              })
            )
          })
          return attempt.pipe(
            Effect.tapError(onError),
            Effect.retry({ schedule: retry, while: isRetryable }),
            Effect.catch((error) =>
              Effect.forEach(remaining, (pending) => Deferred.fail(pending.done, error), { discard: true })
            )
          )
        }

        const sender = yield* Stream.fromQueue(queue).pipe(
          Stream.groupedWithin(10, batchWindow),
          Stream.mapEffect(sendBatch, { concurrency: batchConcurrency, unordered: true }),
          Stream.runDrain,
          Effect.forkIn(workScope)
        )

        return {
          submit: (h, visibility = 0) =>
            Effect.gen(function* () {
              const done = yield* Deferred.make<void, IntakeError>()
              const offered = yield* Queue.offer(queue, { held: h, visibility, done })
              if (!offered)
                return yield* new IntakeError({
                  reason: "Stopped",
                  operation,
                  message: `${operation}: the intake is closed`,
                  messageId: h.messageId
                })
              return yield* Deferred.await(done)
            }),
          close: Queue.end(queue).pipe(
            Effect.andThen(Fiber.join(sender)),
            Effect.timeoutOption("15 seconds"),
            Effect.asVoid
          )
        }
      })

    const deleter = yield* makeBatcher("DeleteMessageBatch", (entries, signal) =>
      client.send(
        new sdk.DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: entries.map((pending, index) => ({
            Id: String(index),
            ReceiptHandle: pending.held.receiptHandle
          }))
        }),
        { abortSignal: signal }
      )
    )
    const changer = yield* makeBatcher("ChangeMessageVisibilityBatch", (entries, signal) =>
      client.send(
        new sdk.ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: entries.map((pending, index) => ({
            Id: String(index),
            ReceiptHandle: pending.held.receiptHandle,
            VisibilityTimeout: pending.visibility
          }))
        }),
        { abortSignal: signal }
      )
    )

    // -- Settling --------------------------------------------------------------------------------------------

    type Action = { readonly _tag: "Delete" } | { readonly _tag: "Visibility"; readonly seconds: number }

    const settle = (h: Held, action: Action, counter: "completed" | "released" | "dropped" | "givenBack") =>
      Effect.suspend((): Effect.Effect<void, IntakeError> => {
        const operation: Operation =
          action._tag === "Delete" ? "DeleteMessageBatch" : "ChangeMessageVisibilityBatch"
        const stopped = Effect.fail(
          new IntakeError({
            reason: "Stopped",
            operation,
            message: "the intake stopped: the message was given back to the queue",
            messageId: h.messageId
          })
        )
        if (h.givenBack) return stopped
        if (h.settled !== undefined) return Deferred.await(h.settled)
        if (closed) return stopped
        const settled = Deferred.makeUnsafe<void, IntakeError>()
        h.settled = settled
        if (counter === "givenBack") h.givenBack = true
        if (h.state !== "abandoned") h.state = "settling"
        const work = Effect.gen(function* () {
          // A visibility change must not be overtaken by an extension still in flight.
          if (h.extending !== undefined) yield* Deferred.await(h.extending)
          const exit = yield* Effect.exit(
            action._tag === "Delete" ? deleter.submit(h) : changer.submit(h, action.seconds)
          )
          if (Exit.isSuccess(exit)) stats[counter] += 1
          yield* unhold(h, "settled")
          yield* Deferred.done(settled, exit)
        })
        return Effect.andThen(Effect.forkIn(work, workScope), Deferred.await(settled))
      })

    // -- Receivers -------------------------------------------------------------------------------------------

    // At least one permit, then as many more as are free, up to 10.
    const takeCredits = Effect.gen(function* () {
      yield* permits.take(1)
      let credits = 1
      while (credits < 10 && (yield* permits.takeIfAvailable(1))) credits += 1
      return credits
    })

    const receive = (max: number) =>
      call(
        "ReceiveMessage",
        (signal) =>
          client.send(
            new sdk.ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: max,
              WaitTimeSeconds: waitTime,
              VisibilityTimeout: visibility,
              MessageSystemAttributeNames: ["ApproximateReceiveCount", "SentTimestamp"],
              MessageAttributeNames: ["All"]
            }),
            { abortSignal: signal }
          ),
        receiveTimeout
      ).pipe(
        Effect.tapError((error) =>
          Effect.andThen(
            Effect.sync(() => {
              stats.receiveErrors += 1
            }),
            onError(error)
          )
        ),
        Effect.retry({ schedule: receiveRetry, while: (error) => !endsStream(error) })
      )

    const makeMessage = (
      h: Held,
      body: string,
      sentAt: number,
      attributes: Message["attributes"]
    ): Message => ({
      messageId: h.messageId,
      body,
      receiveCount: h.receiveCount,
      receivesLeft:
        redrivePolicy === undefined ? undefined : Math.max(0, redrivePolicy.maxReceiveCount - h.receiveCount),
      sentAt: new Date(sentAt),
      receivedAt: new Date(h.receivedAt),
      attributes,
      receiptHandle: h.receiptHandle,
      complete: settle(h, { _tag: "Delete" }, "completed"),
      release: (after) =>
        settle(
          h,
          { _tag: "Visibility", seconds: visibilitySeconds(after ?? releaseDelay(h.receiveCount)) },
          "released"
        ),
      poison: Effect.suspend(() => {
        if (redrivePolicy !== undefined) {
          const seconds =
            h.receiveCount >= redrivePolicy.maxReceiveCount
              ? 0
              : visibilitySeconds(releaseDelay(h.receiveCount))
          return Effect.as(settle(h, { _tag: "Visibility", seconds }, "released"), "Redrive" as const)
        }
        if (h.receiveCount >= maxReceivesBeforeDrop)
          return Effect.as(settle(h, { _tag: "Delete" }, "dropped"), "Dropped" as const)
        return Effect.as(
          settle(
            h,
            { _tag: "Visibility", seconds: visibilitySeconds(releaseDelay(h.receiveCount)) },
            "released"
          ),
          "Released" as const
        )
      })
    })

    const register = (result: ReceiveMessageResult, credits: number) =>
      Effect.gen(function* () {
        stats.receiveCalls += 1
        const now = yield* Clock.currentTimeMillis
        const batch: Array<Held> = []
        for (const m of result.Messages ?? []) {
          if (m.ReceiptHandle === undefined || m.MessageId === undefined) continue
          const receiveCount = Number(m.Attributes?.ApproximateReceiveCount ?? "1")
          const sentAt = Number(m.Attributes?.SentTimestamp ?? now)
          const h: Held = {
            messageId: m.MessageId,
            receiptHandle: m.ReceiptHandle,
            receivedAt: now,
            receiveCount: Number.isFinite(receiveCount) && receiveCount > 0 ? receiveCount : 1,
            state: "buffered",
            visibleAt: now + visibility * 1000,
            extending: undefined,
            settled: undefined,
            permit: batch.length < credits,
            givenBack: false,
            message: undefined as unknown as Message
          }
          h.message = makeMessage(
            h,
            m.Body ?? "",
            Number.isFinite(sentAt) ? sentAt : now,
            m.MessageAttributes ?? {}
          )
          batch.push(h)
          held.add(h)
        }
        stats.received += batch.length
        const unused = credits - batch.filter((h) => h.permit).length
        if (unused > 0) yield* permits.release(unused)
        if (batch.length > 0) yield* Queue.offerAll(output, batch)
      })

    // A receive's answer is registered whole, even when the receiver is interrupted as it arrives: its messages
    // are then held, and given back by the stop, instead of lost until their visibility timeout.
    const receiveRound = Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const credits = yield* restore(takeCredits)
        const result = yield* restore(receive(credits)).pipe(Effect.onError(() => permits.release(credits)))
        yield* register(result, credits)
      })
    )

    const receiversFiber = yield* Effect.forEach(
      Array.from({ length: receivers }),
      () => Effect.forever(receiveRound),
      { concurrency: "unbounded", discard: true }
    ).pipe(
      Effect.catch((error) => Queue.fail(output, error)),
      Effect.forkIn(scope)
    )

    // -- Keeping held messages invisible --------------------------------------------------------------------

    const extend = (h: Held) =>
      Effect.gen(function* () {
        const done = Deferred.makeUnsafe<void>()
        h.extending = done
        const sentAt = yield* Clock.currentTimeMillis
        const result = yield* Effect.result(changer.submit(h, visibility))
        if (Result.isSuccess(result)) {
          h.visibleAt = sentAt + visibility * 1000
          stats.extended += 1
        } else {
          const error = result.failure
          // The message is visible again, or gone: holding it is pointless. Other failures are tried again at
          // the next tick (while there is time left).
          if (
            error.reason === "ReceiptHandleInvalid" &&
            (h.state === "buffered" || h.state === "delivered")
          ) {
            stats.abandoned += 1
            yield* unhold(h, "abandoned")
          }
          yield* onError(error)
        }
        h.extending = undefined
        yield* Deferred.succeed(done, undefined)
      })

    const tick = Math.min(1000, Math.max(100, (visibility * 1000) / 4))
    const keeper = yield* Effect.gen(function* () {
      for (;;) {
        yield* Effect.sleep(tick)
        const now = yield* Clock.currentTimeMillis
        const due: Array<Held> = []
        for (const h of held) {
          if (h.state !== "buffered" && h.state !== "delivered") continue
          if (now - h.receivedAt >= maxHold) {
            stats.abandoned += 1
            yield* unhold(h, "abandoned")
            continue
          }
          if (h.extending === undefined && h.visibleAt - now <= (visibility * 1000) / 2) due.push(h)
        }
        if (due.length > 0)
          yield* Effect.forkIn(
            Effect.forEach(due, extend, { concurrency: "unbounded", discard: true }),
            workScope
          )
      }
    }).pipe(Effect.forkIn(scope))

    // -- Stopping --------------------------------------------------------------------------------------------

    const giveBack = (states: ReadonlyArray<State>) =>
      Effect.forEach(
        [...held].filter((h) => states.includes(h.state)),
        (h) => Effect.ignore(settle(h, { _tag: "Visibility", seconds: 0 }, "givenBack")),
        { concurrency: "unbounded", discard: true }
      )

    let stopping = false
    const stop = Effect.suspend(() => {
      if (stopping) return Effect.void
      stopping = true
      return Effect.gen(function* () {
        yield* Fiber.interrupt(receiversFiber)
        yield* Effect.ignore(Queue.clear(output))
        yield* Queue.end(output)
        yield* giveBack(["buffered"])
      })
    })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* stop
        const deadline = (yield* Clock.currentTimeMillis) + stopGrace
        while (
          [...held].some((h) => h.state === "delivered" || h.state === "settling") &&
          (yield* Clock.currentTimeMillis) < deadline
        )
          yield* Effect.sleep("20 millis")
        yield* giveBack(["buffered", "delivered"])
        closed = true
        yield* Fiber.interrupt(keeper)
        yield* deleter.close
        yield* changer.close
        yield* Scope.close(workScope, Exit.void)
      })
    )

    const messages: Stream.Stream<Message, IntakeError> = Stream.fromQueue(output).pipe(
      Stream.map((h) => {
        if (h.state === "buffered") h.state = "delivered"
        return h.message
      })
    )

    return Intake.of({
      messages,
      redrivePolicy,
      stop,
      stats: () => ({ ...stats, held: held.size }),
      health: () => health
    })
  })

/**
 * The messages of a queue as a stream that owns its intake: started when the stream is run, stopped (see
 * {@link make}) when it ends or is interrupted.
 *
 * @category constructors
 * @since 0.1.0
 */
export const stream = (options: Options): Stream.Stream<Message, IntakeError> =>
  Stream.unwrap(Effect.map(make(options), (intake) => intake.messages))

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Intake, IntakeError> =>
  Layer.effect(Intake, make(options))
