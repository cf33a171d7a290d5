/**
 * The one event type that every nth monitor produces and every handler consumes.
 *
 * An `InterruptionEvent` is a discriminated union on `kind`. Fields shared by every kind (the dedupe id, the
 * monitor that saw it, the instance, when it starts) sit beside the kind's own typed data. The schema is the
 * contract between packages: monitors decode what they read from IMDS or SQS into it, and the encoded form is
 * plain JSON (times as ISO-8601 strings) that can be logged, stored on a node or sent over a wire.
 *
 * @since 0.1.0
 */
import { Result, Schema } from "effect"

// ---------------------------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------------------------

/**
 * An EC2 instance id: `i-` followed by 8 (older instances) or 17 lower-case hex digits.
 *
 * @category schemas
 * @since 0.1.0
 */
export const InstanceId = Schema.String.check(
  Schema.isPattern(/^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, {
    expected: "an EC2 instance id such as i-0123456789abcdef0"
  })
)

/**
 * A Kubernetes node's `spec.providerID` on AWS: `aws:///<availability-zone>/<instance-id>`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ProviderId = Schema.String.check(
  Schema.isPattern(/^aws:\/\/\/[a-z0-9-]+\/i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/, {
    expected: "a provider id such as aws:///us-east-1a/i-0123456789abcdef0"
  })
)

/**
 * A point in time, encoded as an ISO-8601 string and decoded to a valid `Date`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Timestamp = Schema.DateFromString

/**
 * The monitors that produce events. The names are the Go handler's, so metrics and logs read the same.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Monitor = Schema.Literals([
  "SPOT_ITN_MONITOR",
  "SCHEDULED_EVENT_MONITOR",
  "REBALANCE_RECOMMENDATION_MONITOR",
  "ASG_LIFECYCLE_MONITOR",
  "SQS_MONITOR"
])

/**
 * @category models
 * @since 0.1.0
 */
export type Monitor = typeof Monitor.Type

/**
 * Fields every kind carries.
 *
 * - `id` is the dedupe key: the same notice seen twice (on every poll, or redelivered by SQS) has the same id.
 * - `startTime` is when the interruption happens (drain deadlines are computed from it); `endTime` closes a
 *   maintenance window where the source gives one.
 * - `nodeName` and `providerId` are filled when known (IMDS mode knows its node; queue mode resolves it later).
 * - `instanceId` is missing only when it could not be learnt: in IMDS mode the node is the process's own, so a
 *   notice is acted on even while IMDS cannot tell the instance id (queue-mode messages always carry it).
 */
const common = {
  id: Schema.NonEmptyString,
  monitor: Monitor,
  instanceId: Schema.optionalKey(InstanceId),
  nodeName: Schema.optionalKey(Schema.NonEmptyString),
  providerId: Schema.optionalKey(ProviderId),
  startTime: Timestamp,
  endTime: Schema.optionalKey(Timestamp),
  description: Schema.String
} as const

// ---------------------------------------------------------------------------------------------------------------
// Kinds
// ---------------------------------------------------------------------------------------------------------------

/**
 * The actions EC2 documents for a Spot interruption (`instance-action` in IMDS and in the EventBridge warning).
 *
 * @category schemas
 * @since 0.1.0
 */
export const SpotInstanceAction = Schema.Literals(["terminate", "stop", "hibernate"])

/**
 * @category models
 * @since 0.1.0
 */
export type SpotInstanceAction = typeof SpotInstanceAction.Type

/**
 * A known value, or any other non-empty text: the documented values stay in the type (editors suggest them),
 * yet a value AWS adds later still decodes.
 *
 * @category models
 * @since 0.1.0
 */
export type KnownOr<Known extends string> = Known | (string & {})

// Accepts every non-empty string; the guard only widens the decoded type to `KnownOr<Known>`.
const knownOr = <Known extends string>(expected: string) =>
  Schema.NonEmptyString.pipe(Schema.refine((_value: string): _value is KnownOr<Known> => true, { expected }))

/**
 * What a Spot notice says EC2 will do. Any non-empty value is accepted: the Go handler drains whatever the
 * action (it never reads it), so an action EC2 adds later must not stop nth from draining.
 *
 * @category schemas
 * @since 0.1.0
 */
export const SpotAction = knownOr<SpotInstanceAction>("a Spot instance action such as terminate")

/**
 * @category models
 * @since 0.1.0
 */
export type SpotAction = typeof SpotAction.Type

/**
 * A Spot interruption notice (ITN): the instance is reclaimed at `startTime`, two minutes after the notice.
 * From IMDS `spot/instance-action` or the EventBridge "EC2 Spot Instance Interruption Warning".
 *
 * @category schemas
 * @since 0.1.0
 */
export const SpotInterruptionNotice = Schema.Struct({
  kind: Schema.Literal("SpotInterruptionNotice"),
  ...common,
  action: SpotAction
})

/**
 * @category models
 * @since 0.1.0
 */
export interface SpotInterruptionNotice extends Schema.Schema.Type<typeof SpotInterruptionNotice> {}

/**
 * A Spot rebalance recommendation: the instance is at elevated risk of interruption. `startTime` is the notice
 * time. From IMDS `events/recommendations/rebalance` or the EventBridge "EC2 Instance Rebalance Recommendation".
 *
 * @category schemas
 * @since 0.1.0
 */
export const RebalanceRecommendation = Schema.Struct({
  kind: Schema.Literal("RebalanceRecommendation"),
  ...common
})

/**
 * @category models
 * @since 0.1.0
 */
export interface RebalanceRecommendation extends Schema.Schema.Type<typeof RebalanceRecommendation> {}

/**
 * The codes EC2 documents for scheduled events.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ScheduledEventCode = Schema.Literals([
  "instance-reboot",
  "system-reboot",
  "system-maintenance",
  "instance-retirement",
  "instance-stop"
])

/**
 * @category models
 * @since 0.1.0
 */
export type ScheduledEventCode = typeof ScheduledEventCode.Type

/**
 * The code of a scheduled event as read. Any non-empty code is accepted: the Go handler drains for every code,
 * so a code EC2 adds later must still drain the node (only the known restart codes mark it for an uncordon
 * after reboot, see `NodeAction.restartCodes`).
 *
 * @category schemas
 * @since 0.1.0
 */
export const ScheduledCode = knownOr<ScheduledEventCode>("a scheduled event code such as system-reboot")

/**
 * @category models
 * @since 0.1.0
 */
export type ScheduledCode = typeof ScheduledCode.Type

/**
 * The state of an EC2 scheduled event. `canceled` and `completed` events stay listed in IMDS for a while.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ScheduledEventState = Schema.Literals(["active", "canceled", "completed"])

/**
 * An EC2 scheduled event for this instance (IMDS `events/maintenance/scheduled`): a reboot, maintenance,
 * retirement or stop between `notBefore` and `notAfter`. `scheduledEventId` is EC2's own id
 * (`instance-event-…`).
 *
 * @category schemas
 * @since 0.1.0
 */
export const ScheduledMaintenance = Schema.Struct({
  kind: Schema.Literal("ScheduledMaintenance"),
  ...common,
  scheduledEventId: Schema.NonEmptyString,
  code: ScheduledCode,
  state: ScheduledEventState,
  notBefore: Timestamp,
  notAfter: Schema.optionalKey(Timestamp),
  notBeforeDeadline: Schema.optionalKey(Timestamp)
})

/**
 * @category models
 * @since 0.1.0
 */
export interface ScheduledMaintenance extends Schema.Schema.Type<typeof ScheduledMaintenance> {}

/**
 * An AWS Health scheduled change for an EC2 instance (EventBridge `aws.health`, service `EC2`, category
 * `scheduledChange`), one event per affected instance.
 *
 * @category schemas
 * @since 0.1.0
 */
export const HealthScheduledChange = Schema.Struct({
  kind: Schema.Literal("HealthScheduledChange"),
  ...common,
  eventArn: Schema.NonEmptyString,
  eventTypeCode: Schema.NonEmptyString
})

/**
 * @category models
 * @since 0.1.0
 */
export interface HealthScheduledChange extends Schema.Schema.Type<typeof HealthScheduledChange> {}

const lifecycleHook = {
  autoScalingGroupName: Schema.NonEmptyString,
  lifecycleHookName: Schema.NonEmptyString,
  lifecycleActionToken: Schema.NonEmptyString,
  notificationMetadata: Schema.optionalKey(Schema.String)
} as const

/**
 * An Auto Scaling group is terminating the instance (scale-in, AZ rebalance, instance refresh) and waits in
 * `Terminating:Wait` on a lifecycle hook until the handler completes the action (or the hook times out).
 * From the EventBridge "EC2 Instance-terminate Lifecycle Action" or a hook notifying SQS directly.
 *
 * @category schemas
 * @since 0.1.0
 */
export const AsgLifecycleTermination = Schema.Struct({
  kind: Schema.Literal("AsgLifecycleTermination"),
  ...common,
  ...lifecycleHook
})

/**
 * @category models
 * @since 0.1.0
 */
export interface AsgLifecycleTermination extends Schema.Schema.Type<typeof AsgLifecycleTermination> {}

/**
 * An Auto Scaling group launched the instance and waits in `Pending:Wait` on a launch lifecycle hook, to be
 * completed once the instance's node is Ready.
 *
 * @category schemas
 * @since 0.1.0
 */
export const AsgLifecycleLaunch = Schema.Struct({
  kind: Schema.Literal("AsgLifecycleLaunch"),
  ...common,
  ...lifecycleHook
})

/**
 * @category models
 * @since 0.1.0
 */
export interface AsgLifecycleLaunch extends Schema.Schema.Type<typeof AsgLifecycleLaunch> {}

/**
 * The ASG target lifecycle state read from IMDS (`autoscaling/target-lifecycle-state`) says the instance is
 * being terminated. IMDS gives no lifecycle action token, so nothing can be acknowledged from here.
 *
 * @category schemas
 * @since 0.1.0
 */
export const AsgTargetLifecycleState = Schema.Struct({
  kind: Schema.Literal("AsgTargetLifecycleState"),
  ...common,
  targetLifecycleState: Schema.Literal("Terminated")
})

/**
 * @category models
 * @since 0.1.0
 */
export interface AsgTargetLifecycleState extends Schema.Schema.Type<typeof AsgTargetLifecycleState> {}

/**
 * The EC2 states that mean an instance is going away.
 *
 * @category schemas
 * @since 0.1.0
 */
export const InstanceState = Schema.Literals(["stopping", "stopped", "shutting-down", "terminated"])

/**
 * The instance changed into a state in which it stops serving (EventBridge "EC2 Instance State-change
 * Notification").
 *
 * @category schemas
 * @since 0.1.0
 */
export const InstanceStateChange = Schema.Struct({
  kind: Schema.Literal("InstanceStateChange"),
  ...common,
  state: InstanceState
})

/**
 * @category models
 * @since 0.1.0
 */
export interface InstanceStateChange extends Schema.Schema.Type<typeof InstanceStateChange> {}

// ---------------------------------------------------------------------------------------------------------------
// The union
// ---------------------------------------------------------------------------------------------------------------

/**
 * Every kind of interruption nth handles.
 *
 * @category schemas
 * @since 0.1.0
 */
export const InterruptionEvent = Schema.Union([
  SpotInterruptionNotice,
  RebalanceRecommendation,
  ScheduledMaintenance,
  HealthScheduledChange,
  AsgLifecycleTermination,
  AsgLifecycleLaunch,
  AsgTargetLifecycleState,
  InstanceStateChange
])

/**
 * @category models
 * @since 0.1.0
 */
export type InterruptionEvent =
  | SpotInterruptionNotice
  | RebalanceRecommendation
  | ScheduledMaintenance
  | HealthScheduledChange
  | AsgLifecycleTermination
  | AsgLifecycleLaunch
  | AsgTargetLifecycleState
  | InstanceStateChange

/**
 * The JSON form of an event (times as ISO-8601 strings).
 *
 * @category models
 * @since 0.1.0
 */
export type Encoded = typeof InterruptionEvent.Encoded

/**
 * The name of each kind.
 *
 * @category models
 * @since 0.1.0
 */
export type Kind = InterruptionEvent["kind"]

/**
 * Every kind, in a fixed order (for tables, metrics labels and exhaustive tests).
 *
 * @category constants
 * @since 0.1.0
 */
export const kinds: ReadonlyArray<Kind> = [
  "SpotInterruptionNotice",
  "RebalanceRecommendation",
  "ScheduledMaintenance",
  "HealthScheduledChange",
  "AsgLifecycleTermination",
  "AsgLifecycleLaunch",
  "AsgTargetLifecycleState",
  "InstanceStateChange"
]

/**
 * The event of one kind.
 *
 * @category models
 * @since 0.1.0
 */
export type OfKind<K extends Kind> = Extract<InterruptionEvent, { readonly kind: K }>

// ---------------------------------------------------------------------------------------------------------------
// Decoding and encoding
// ---------------------------------------------------------------------------------------------------------------

/**
 * Raised when input does not describe a valid event. `message` names every offending field by its path, e.g.
 * `Expected an ISO-8601 date-time, got "soon"\n  at ["startTime"]`.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidInterruptionEvent extends Schema.TaggedError<InvalidInterruptionEvent>()(
  "InvalidInterruptionEvent",
  { message: Schema.String }
) {}

// Every problem is reported, and fields the schema does not know are refused: a typo in a hand-written event
// (`startTme`) must not pass silently.
const parseOptions = { errors: "all", onExcessProperty: "error" } as const
const decodeResult = Schema.decodeUnknownResult(InterruptionEvent, parseOptions)
const parseJson = Schema.decodeUnknownResult(Schema.fromJsonString(Schema.Unknown))
const encodeSync = Schema.encodeSync(InterruptionEvent)

const toInvalid = (error: Schema.SchemaError) => new InvalidInterruptionEvent({ message: error.message })

// Checked first, on its own: a union's error for an unknown kind lists all eight shapes, which buries the one
// fact that matters.
const decodeKindResult = Schema.decodeUnknownResult(
  Schema.Struct({ kind: Schema.Literals(kinds as [Kind, ...Array<Kind>]) }),
  { onExcessProperty: "ignore" }
)

const checkKind = (input: unknown): Result.Result<unknown, InvalidInterruptionEvent> =>
  Result.mapBoth(decodeKindResult(input), {
    onSuccess: () => input,
    onFailure: (error) =>
      new InvalidInterruptionEvent({
        message:
          typeof input === "object" && input !== null && "kind" in input
            ? `Unknown event kind ${JSON.stringify(input.kind)}; expected one of ${kinds.join(", ")}\n  at ["kind"]`
            : error.message
      })
  })

/**
 * Decodes untrusted input (e.g. parsed JSON) into an event. Unknown kinds, missing or malformed fields and
 * unexpected fields are all rejected, with every problem listed.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decode = (input: unknown): Result.Result<InterruptionEvent, InvalidInterruptionEvent> =>
  Result.flatMap(checkKind(input), (checked) => Result.mapError(decodeResult(checked), toInvalid))

/**
 * Decodes a JSON text into an event.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeJson = (json: string): Result.Result<InterruptionEvent, InvalidInterruptionEvent> =>
  Result.flatMap(Result.mapError(parseJson(json), toInvalid), decode)

/**
 * The JSON form of an event: what {@link decode} accepts back.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encode = (event: InterruptionEvent): Encoded => encodeSync(event)
