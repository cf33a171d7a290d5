/**
 * What a test can tell a running mock: the notices to serve, the faults to inject, and the clock. Each input is
 * an Effect Schema, so the programmatic methods and the HTTP control API (`/control/…`, JSON bodies) accept
 * exactly the same shapes and reject bad input with the same message, naming the offending field.
 *
 * @since 0.1.0
 */
import { InterruptionEvent } from "@nth/events"
import { Result, Schema } from "effect"

// ---------------------------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------------------------

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/

/**
 * A point in time as RFC 3339 text, e.g. `2026-11-25T10:02:00Z`. The mock serves it in UTC at second
 * precision, as IMDS does.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Time = Schema.String.check(
  Schema.makeFilter((text: string) => rfc3339.test(text) && !Number.isNaN(Date.parse(text)), {
    expected: "an RFC 3339 time such as 2026-11-25T10:02:00Z"
  })
)

/**
 * How long, in seconds of the mock's (virtual) clock, until a notice appears. Until then its path answers 404,
 * as on an instance that has not been told anything yet.
 *
 * @category schemas
 * @since 0.1.0
 */
export const AfterSeconds = Schema.Number.check(
  Schema.isFinite({ expected: "a finite number of seconds" }),
  Schema.isGreaterThanOrEqualTo(0, { expected: "a number of seconds ≥ 0" })
)

// ---------------------------------------------------------------------------------------------------------------
// Spot interruption notice
// ---------------------------------------------------------------------------------------------------------------

/**
 * What EC2 will do to a Spot instance.
 *
 * @category schemas
 * @since 0.1.0
 */
export const SpotAction = InterruptionEvent.SpotInstanceAction

/**
 * @category models
 * @since 0.1.0
 */
export type SpotAction = typeof SpotAction.Type

/**
 * A Spot interruption notice, served at `spot/instance-action` (and, for `terminate`, `spot/termination-time`).
 * `time` is when the action happens; it defaults to two minutes after the notice appears, as on EC2.
 *
 * @category schemas
 * @since 0.1.0
 */
export const SpotInterruption = Schema.Struct({
  action: SpotAction,
  time: Schema.optionalKey(Time),
  afterSeconds: Schema.optionalKey(AfterSeconds)
})

/**
 * @category models
 * @since 0.1.0
 */
export interface SpotInterruption extends Schema.Schema.Type<typeof SpotInterruption> {}

// ---------------------------------------------------------------------------------------------------------------
// Scheduled events
// ---------------------------------------------------------------------------------------------------------------

/**
 * The codes of EC2 scheduled events.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ScheduledEventCode = InterruptionEvent.ScheduledEventCode

/**
 * @category models
 * @since 0.1.0
 */
export type ScheduledEventCode = typeof ScheduledEventCode.Type

/**
 * The states of an EC2 scheduled event.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ScheduledEventState = InterruptionEvent.ScheduledEventState

/**
 * @category models
 * @since 0.1.0
 */
export type ScheduledEventState = typeof ScheduledEventState.Type

/**
 * A scheduled event to add. Every field has a default: code `system-reboot`, state `active`, a description
 * naming the code, a fresh `instance-event-…` id, and `notBefore` when the event appears. `notAfter` and
 * `notBeforeDeadline` are left out of the JSON unless given, as EC2 does.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ScheduledEvent = Schema.Struct({
  code: Schema.optionalKey(ScheduledEventCode),
  state: Schema.optionalKey(ScheduledEventState),
  description: Schema.optionalKey(Schema.String),
  eventId: Schema.optionalKey(Schema.NonEmptyString),
  notBefore: Schema.optionalKey(Time),
  notAfter: Schema.optionalKey(Time),
  notBeforeDeadline: Schema.optionalKey(Time),
  afterSeconds: Schema.optionalKey(AfterSeconds)
})

/**
 * @category models
 * @since 0.1.0
 */
export interface ScheduledEvent extends Schema.Schema.Type<typeof ScheduledEvent> {}

/**
 * The body of `PATCH /control/scheduled-events/:id`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ScheduledEventStateChange = Schema.Struct({ state: ScheduledEventState })

// ---------------------------------------------------------------------------------------------------------------
// Rebalance recommendation and ASG target lifecycle state
// ---------------------------------------------------------------------------------------------------------------

/**
 * A rebalance recommendation, served at `events/recommendations/rebalance`. `noticeTime` defaults to when it
 * appears.
 *
 * @category schemas
 * @since 0.1.0
 */
export const RebalanceRecommendation = Schema.Struct({
  noticeTime: Schema.optionalKey(Time),
  afterSeconds: Schema.optionalKey(AfterSeconds)
})

/**
 * @category models
 * @since 0.1.0
 */
export interface RebalanceRecommendation extends Schema.Schema.Type<typeof RebalanceRecommendation> {}

/**
 * The Auto Scaling lifecycle states an instance can be heading for.
 *
 * @category schemas
 * @since 0.1.0
 */
export const TargetLifecycleState = Schema.Literals([
  "InService",
  "Terminated",
  "Detached",
  "Standby",
  "Warmed:Stopped",
  "Warmed:Running",
  "Warmed:Hibernated",
  "Warmed:Terminated"
])

/**
 * @category models
 * @since 0.1.0
 */
export type TargetLifecycleState = typeof TargetLifecycleState.Type

/**
 * The body of `PUT /control/target-lifecycle-state`: the new state (`null`: the instance is not in an Auto
 * Scaling group, so the path answers 404), optionally taking effect later.
 *
 * @category schemas
 * @since 0.1.0
 */
export const TargetLifecycleStateChange = Schema.Struct({
  state: Schema.NullOr(TargetLifecycleState),
  afterSeconds: Schema.optionalKey(AfterSeconds)
})

// ---------------------------------------------------------------------------------------------------------------
// Faults and clock
// ---------------------------------------------------------------------------------------------------------------

/**
 * How a faulty IMDS misbehaves:
 *
 * - `throttle`: 429, as IMDS does past its request rate limit
 * - `error`: 500
 * - `unavailable`: 503
 * - `forbidden`: 403
 * - `notFound`: 404, as if the path did not exist (metadata IMDS does not have)
 * - `delay`: the normal answer, `delayMs` late
 * - `garbage`: 200 with a malformed body (JSON cut in half, otherwise random bytes)
 * - `drop`: the connection is destroyed without an answer
 *
 * @category schemas
 * @since 0.1.0
 */
export const FaultMode = Schema.Literals([
  "throttle",
  "error",
  "unavailable",
  "delay",
  "garbage",
  "forbidden",
  "notFound",
  "drop"
])

/**
 * @category models
 * @since 0.1.0
 */
export type FaultMode = typeof FaultMode.Type

/**
 * A fault to inject into requests whose path starts with `pathPrefix` (default `/latest/`, which includes the
 * token endpoint), for the next `count` of them or, without a count, until cleared. When several faults match,
 * the oldest applies.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Fault = Schema.Struct({
  mode: FaultMode,
  pathPrefix: Schema.optionalKey(
    Schema.String.check(Schema.isPattern(/^\//, { expected: "a path starting with /" }))
  ),
  count: Schema.optionalKey(
    Schema.Number.check(Schema.isInt({ expected: "an integer count ≥ 1" }), Schema.isGreaterThanOrEqualTo(1))
  ),
  delayMs: Schema.optionalKey(
    Schema.Number.check(
      Schema.isInt({ expected: "an integer number of ms ≥ 0" }),
      Schema.isGreaterThanOrEqualTo(0)
    )
  )
})

/**
 * @category models
 * @since 0.1.0
 */
export interface Fault extends Schema.Schema.Type<typeof Fault> {}

/**
 * The body of `POST /control/clock`: how far to move the mock's virtual clock forward.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ClockAdvance = Schema.Struct({
  advanceMs: Schema.Number.check(
    Schema.isFinite({ expected: "a finite number of ms" }),
    Schema.isGreaterThanOrEqualTo(0, { expected: "a number of ms ≥ 0 (the clock does not go back)" })
  )
})

// ---------------------------------------------------------------------------------------------------------------
// What the mock reports
// ---------------------------------------------------------------------------------------------------------------

/**
 * One request the mock answered (control requests are not recorded). `time` and `epochMs` are read from the
 * virtual clock; `status` is 0 when the connection was dropped; `fault` names the fault that applied, if any.
 *
 * @category models
 * @since 0.1.0
 */
export interface RequestRecord {
  readonly time: string
  readonly epochMs: number
  readonly method: string
  readonly path: string
  readonly status: number
  readonly withToken: boolean
  readonly fault?: FaultMode
}

/**
 * An injected fault, with what is left of its count (`null`: until cleared).
 *
 * @category models
 * @since 0.1.0
 */
export interface ActiveFault {
  readonly id: string
  readonly mode: FaultMode
  readonly pathPrefix: string
  readonly remaining: number | null
  readonly delayMs: number
}

/**
 * The Spot interruption notice the mock holds: the action, when it happens and when the notice appears (both
 * RFC 3339, as served).
 *
 * @category models
 * @since 0.1.0
 */
export interface SpotInterruptionSnapshot {
  readonly action: SpotAction
  readonly time: string
  readonly appearsAt: string
}

/**
 * A scheduled event as the mock holds it. Times are as served (Go layout, e.g. `21 Jan 2019 09:00:43 GMT`),
 * except `appearsAt` (RFC 3339).
 *
 * @category models
 * @since 0.1.0
 */
export interface ScheduledEventSnapshot {
  readonly eventId: string
  readonly code: ScheduledEventCode
  readonly state: ScheduledEventState
  readonly description: string
  readonly notBefore: string
  readonly notAfter?: string
  readonly notBeforeDeadline?: string
  readonly appearsAt: string
}

/**
 * The rebalance recommendation the mock holds (RFC 3339 times).
 *
 * @category models
 * @since 0.1.0
 */
export interface RebalanceRecommendationSnapshot {
  readonly noticeTime: string
  readonly appearsAt: string
}

/**
 * Everything the mock currently holds (`GET /control/state`). `now` is the virtual clock (RFC 3339).
 *
 * @category models
 * @since 0.1.0
 */
export interface StateSnapshot {
  readonly now: string
  readonly clockOffsetMs: number
  readonly imdsv1: boolean
  readonly spotInterruption: SpotInterruptionSnapshot | null
  readonly scheduledEvents: ReadonlyArray<ScheduledEventSnapshot>
  readonly rebalanceRecommendation: RebalanceRecommendationSnapshot | null
  readonly targetLifecycleState: TargetLifecycleState | null
  readonly pendingTargetLifecycleState: {
    readonly state: TargetLifecycleState | null
    readonly at: string
  } | null
  readonly faults: ReadonlyArray<ActiveFault>
  readonly requestCount: number
}

// ---------------------------------------------------------------------------------------------------------------
// Errors and decoding
// ---------------------------------------------------------------------------------------------------------------

/**
 * Raised when a control input is not valid. `message` names the offending field, e.g.
 * `Expected "terminate" | "stop" | "hibernate"\n  at ["action"]`. The HTTP control API answers it
 * with 400.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidControlRequest extends Schema.TaggedError<InvalidControlRequest>()(
  "InvalidControlRequest",
  {
    message: Schema.String
  }
) {}

/**
 * Raised when a control call names a scheduled event or fault the mock does not hold. The HTTP control API
 * answers it with 404.
 *
 * @category errors
 * @since 0.1.0
 */
export class UnknownId extends Schema.TaggedError<UnknownId>()("UnknownId", {
  message: Schema.String
}) {}

// A typo in a control body (`afterSecond`) must not pass silently: the notice would appear at once and the test
// would prove nothing.
const parseOptions = { errors: "all", onExcessProperty: "error" } as const

/**
 * Validates a control input against its schema. Returns the decoded value or an {@link InvalidControlRequest}
 * naming every bad field.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decode = <S extends Schema.ConstraintDecoder<unknown>>(
  schema: S,
  input: unknown
): Result.Result<S["Type"], InvalidControlRequest> =>
  Result.mapError(
    Schema.decodeUnknownResult(schema, parseOptions)(input),
    (error) => new InvalidControlRequest({ message: error.message })
  )
