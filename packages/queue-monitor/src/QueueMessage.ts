/**
 * What arrives on nth's SQS queue, and how a message body becomes interruption events.
 *
 * Two families of messages reach the queue, as in the Go handler:
 *
 * - **EventBridge events** (an envelope with `detail-type`, `source` and `detail`): Spot interruption warnings,
 *   rebalance recommendations and instance state changes from `aws.ec2`, lifecycle actions from
 *   `aws.autoscaling`, and scheduled changes from `aws.health`.
 * - **Auto Scaling notifications** sent by a lifecycle hook straight to SQS (no envelope), or through an SNS
 *   topic (an SNS notification whose `Message` is the notification as a JSON string), including the test
 *   notification Auto Scaling sends when the hook is created.
 *
 * {@link decode} turns one body into a {@link Decoded}: `Events` to act on, a `TestNotification` or an `Ignored`
 * message (known, but nothing to do: delete it), or a `QueueMessageError` (not JSON, an unknown kind, a missing or
 * malformed field). It is pure: no SQS, no EC2 lookup, no clock unless none is given.
 *
 * @since 0.1.0
 */
import { EventId, InterruptionEvent } from "@nth/events"
import { Clock, Effect, Result, Schema } from "effect"
import { formatRfc3339, parseRfc3339 } from "./internal/time.ts"
import { QueueMessageError } from "./QueueMessageError.ts"

// ---------------------------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------------------------

/**
 * The EventBridge `detail-type`s nth reads.
 *
 * @category constants
 * @since 0.1.0
 */
export const detailTypes = {
  spotInterruptionWarning: "EC2 Spot Instance Interruption Warning",
  rebalanceRecommendation: "EC2 Instance Rebalance Recommendation",
  instanceStateChange: "EC2 Instance State-change Notification",
  launchLifecycleAction: "EC2 Instance-launch Lifecycle Action",
  terminateLifecycleAction: "EC2 Instance-terminate Lifecycle Action",
  healthEvent: "AWS Health Event"
} as const

/**
 * The lifecycle transitions of the Auto Scaling hooks nth completes.
 *
 * @category constants
 * @since 0.1.0
 */
export const lifecycleTransitions = {
  launching: "autoscaling:EC2_INSTANCE_LAUNCHING",
  terminating: "autoscaling:EC2_INSTANCE_TERMINATING"
} as const

/**
 * The `Event` (or, as the Go handler also accepts, `LifecycleTransition`) of the test notification Auto Scaling
 * sends when a lifecycle hook or notification configuration is created.
 *
 * @category constants
 * @since 0.1.0
 */
export const testNotificationEvent = "autoscaling:TEST_NOTIFICATION"

/**
 * How long after an EventBridge Spot interruption warning EC2 interrupts the instance. The warning carries only
 * the time it was sent; the interruption is two minutes later (IMDS gives that time itself).
 *
 * @category constants
 * @since 0.1.0
 */
export const spotInterruptionLeadMillis = 120_000

// ---------------------------------------------------------------------------------------------------------------
// EventBridge events
// ---------------------------------------------------------------------------------------------------------------

// The envelope EventBridge wraps every event in. Only `id` (the dedupe key), `source`, `detail-type` and `detail`
// are needed; a missing or unreadable `time` means "now", as in the Go handler. Fields not named here (and new
// ones AWS adds) are accepted and dropped, in the envelope and in every `detail`.
const envelope = {
  version: Schema.optionalKey(Schema.String),
  id: Schema.NonEmptyString,
  account: Schema.optionalKey(Schema.String),
  time: Schema.optionalKey(Schema.String),
  region: Schema.optionalKey(Schema.String),
  resources: Schema.optionalKey(Schema.Array(Schema.String))
} as const

/**
 * Any EventBridge event, before its `source` and `detail-type` say what `detail` holds.
 *
 * @category schemas
 * @since 0.1.0
 */
export const EventBridgeEvent = Schema.Struct({
  ...envelope,
  "detail-type": Schema.NonEmptyString,
  source: Schema.String,
  detail: Schema.Unknown
})

/**
 * @category models
 * @since 0.1.0
 */
export type EventBridgeEvent = typeof EventBridgeEvent.Type

/**
 * "EC2 Spot Instance Interruption Warning" (`aws.ec2`): EC2 reclaims the instance two minutes after `time`.
 * `instance-action` is `terminate`, `stop` or `hibernate`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const SpotInterruptionWarning = Schema.Struct({
  ...envelope,
  "detail-type": Schema.Literal(detailTypes.spotInterruptionWarning),
  source: Schema.Literal("aws.ec2"),
  detail: Schema.Struct({
    "instance-id": InterruptionEvent.InstanceId,
    "instance-action": Schema.optionalKey(Schema.String)
  })
})

/**
 * @category models
 * @since 0.1.0
 */
export type SpotInterruptionWarning = typeof SpotInterruptionWarning.Type

/**
 * "EC2 Instance Rebalance Recommendation" (`aws.ec2`): the Spot instance is at elevated risk of interruption.
 *
 * @category schemas
 * @since 0.1.0
 */
export const RebalanceRecommendation = Schema.Struct({
  ...envelope,
  "detail-type": Schema.Literal(detailTypes.rebalanceRecommendation),
  source: Schema.Literal("aws.ec2"),
  detail: Schema.Struct({ "instance-id": InterruptionEvent.InstanceId })
})

/**
 * @category models
 * @since 0.1.0
 */
export type RebalanceRecommendation = typeof RebalanceRecommendation.Type

/**
 * "EC2 Instance State-change Notification" (`aws.ec2`), for every state (`pending`, `running`, `stopping`, …);
 * only the states in which the instance goes away are acted on.
 *
 * @category schemas
 * @since 0.1.0
 */
export const InstanceStateChangeNotification = Schema.Struct({
  ...envelope,
  "detail-type": Schema.Literal(detailTypes.instanceStateChange),
  source: Schema.Literal("aws.ec2"),
  detail: Schema.Struct({
    "instance-id": InterruptionEvent.InstanceId,
    state: Schema.String
  })
})

/**
 * @category models
 * @since 0.1.0
 */
export type InstanceStateChangeNotification = typeof InstanceStateChangeNotification.Type

/**
 * What a lifecycle hook says, in an EventBridge `detail` and in a notification sent to SQS or SNS alike: the
 * token, group and hook that `CompleteLifecycleAction` (and heartbeats) need, and the instance.
 */
const lifecycleAction = {
  LifecycleActionToken: Schema.NonEmptyString,
  AutoScalingGroupName: Schema.NonEmptyString,
  LifecycleHookName: Schema.NonEmptyString,
  EC2InstanceId: InterruptionEvent.InstanceId,
  LifecycleTransition: Schema.Literals([lifecycleTransitions.launching, lifecycleTransitions.terminating]),
  NotificationMetadata: Schema.optionalKey(Schema.String)
} as const

/**
 * "EC2 Instance-launch Lifecycle Action" or "EC2 Instance-terminate Lifecycle Action" (`aws.autoscaling`): an
 * Auto Scaling group waits on a lifecycle hook. As in the Go handler, the `detail-type` is not checked: the
 * transition in `detail` decides.
 *
 * @category schemas
 * @since 0.1.0
 */
export const LifecycleActionEvent = Schema.Struct({
  ...envelope,
  "detail-type": Schema.String,
  source: Schema.Literal("aws.autoscaling"),
  detail: Schema.Struct(lifecycleAction)
})

/**
 * @category models
 * @since 0.1.0
 */
export type LifecycleActionEvent = typeof LifecycleActionEvent.Type

/**
 * "AWS Health Event" (`aws.health`), any service and category, as far as needed to tell an EC2 scheduled change
 * from the rest.
 *
 * @category schemas
 * @since 0.1.0
 */
export const HealthEvent = Schema.Struct({
  ...envelope,
  "detail-type": Schema.Literal(detailTypes.healthEvent),
  source: Schema.Literal("aws.health"),
  detail: Schema.Struct({
    service: Schema.optionalKey(Schema.String),
    eventTypeCategory: Schema.optionalKey(Schema.String)
  })
})

/**
 * @category models
 * @since 0.1.0
 */
export type HealthEvent = typeof HealthEvent.Type

/**
 * An AWS Health scheduled change for EC2 (`service` `EC2`, `eventTypeCategory` `scheduledChange`): maintenance,
 * retirement or a reboot of the instances in `detail.affectedEntities` (their ids are also in `resources`).
 *
 * @category schemas
 * @since 0.1.0
 */
export const HealthScheduledChangeEvent = Schema.Struct({
  ...envelope,
  "detail-type": Schema.Literal(detailTypes.healthEvent),
  source: Schema.Literal("aws.health"),
  detail: Schema.Struct({
    eventArn: Schema.NonEmptyString,
    service: Schema.Literal("EC2"),
    eventTypeCode: Schema.NonEmptyString,
    eventTypeCategory: Schema.Literal("scheduledChange"),
    affectedEntities: Schema.optionalKey(Schema.Array(Schema.Struct({ entityValue: Schema.String })))
  })
})

/**
 * @category models
 * @since 0.1.0
 */
export type HealthScheduledChangeEvent = typeof HealthScheduledChangeEvent.Type

// ---------------------------------------------------------------------------------------------------------------
// Auto Scaling notifications (no EventBridge)
// ---------------------------------------------------------------------------------------------------------------

/**
 * A lifecycle hook's notification, as Auto Scaling sends it to SQS (or SNS): the hook's fields at the top level,
 * with `RequestId` (the dedupe key) and `Time`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const LifecycleNotification = Schema.Struct({
  ...lifecycleAction,
  RequestId: Schema.NonEmptyString,
  Time: Schema.optionalKey(Schema.String),
  AccountId: Schema.optionalKey(Schema.String),
  Service: Schema.optionalKey(Schema.String)
})

/**
 * @category models
 * @since 0.1.0
 */
export type LifecycleNotification = typeof LifecycleNotification.Type

/**
 * The test notification Auto Scaling sends when a hook (or a notification configuration) is created:
 * `Event: "autoscaling:TEST_NOTIFICATION"`. The Go handler also takes a `LifecycleTransition` with that value.
 *
 * @category schemas
 * @since 0.1.0
 */
export const AutoScalingTestNotification = Schema.Union([
  Schema.Struct({ Event: Schema.Literal(testNotificationEvent) }),
  Schema.Struct({ LifecycleTransition: Schema.Literal(testNotificationEvent) })
])

/**
 * @category models
 * @since 0.1.0
 */
export type AutoScalingTestNotification = typeof AutoScalingTestNotification.Type

/**
 * An SNS notification delivered to SQS without raw message delivery: the published message is the JSON string
 * `Message`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const SnsNotification = Schema.Struct({
  Type: Schema.optionalKey(Schema.Literal("Notification")),
  MessageId: Schema.optionalKey(Schema.String),
  TopicArn: Schema.optionalKey(Schema.String),
  Message: Schema.String,
  Timestamp: Schema.optionalKey(Schema.String)
})

/**
 * @category models
 * @since 0.1.0
 */
export type SnsNotification = typeof SnsNotification.Type

// ---------------------------------------------------------------------------------------------------------------
// Decoded messages
// ---------------------------------------------------------------------------------------------------------------

/**
 * A message to act on: one event, or one per affected instance of an AWS Health event. Every event has
 * `monitor: "SQS_MONITOR"` and an `instanceId`; lifecycle actions carry what completing them needs
 * (`autoScalingGroupName`, `lifecycleHookName`, `lifecycleActionToken`). Node names and provider ids are not
 * known yet: they come from EC2 later.
 *
 * @category models
 * @since 0.1.0
 */
export interface Events {
  readonly _tag: "Events"
  readonly events: readonly [
    InterruptionEvent.InterruptionEvent,
    ...Array<InterruptionEvent.InterruptionEvent>
  ]
}

/**
 * The Auto Scaling test notification: nothing to do but delete it.
 *
 * @category models
 * @since 0.1.0
 */
export interface TestNotification {
  readonly _tag: "TestNotification"
}

/**
 * A message nth knows and does not act on (a state change to `running`, an AWS Health event for another
 * service, an Auto Scaling event that is no lifecycle action, …): the Go handler deletes these. `reason` says
 * which it was, for the log.
 *
 * @category models
 * @since 0.1.0
 */
export interface Ignored {
  readonly _tag: "Ignored"
  readonly reason: string
}

/**
 * @category models
 * @since 0.1.0
 */
export type Decoded = Events | TestNotification | Ignored

/**
 * What decoding needs besides the body.
 *
 * @category models
 * @since 0.1.0
 */
export interface DecodeContext {
  /**
   * The current time: the start of AWS Health events (drained at once, as the Go handler) and of messages
   * whose time is missing or not RFC 3339. Default: the system clock.
   */
  readonly now?: Date | undefined
}

const ignored = (reason: string): Decoded => ({ _tag: "Ignored", reason })
const testNotification: Decoded = { _tag: "TestNotification" }

// ---------------------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------------------

// Fields nth does not read are accepted (AWS adds some now and then); every problem in the fields it reads is
// reported.
const parseOptions = { errors: "all", onExcessProperty: "ignore" } as const

const fail = (reason: QueueMessageError["reason"], message: string) =>
  Result.fail(new QueueMessageError({ reason, message }))

/** A value quoted for a message, cut short: it may come from an arbitrarily large body. */
const show = (value: unknown): string => {
  if (value === undefined) return "nothing"
  const text = JSON.stringify(value)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

const decoder =
  <A>(
    label: string,
    decode: (input: unknown, options?: typeof parseOptions) => Result.Result<A, Schema.SchemaError>
  ) =>
  (input: unknown): Result.Result<A, QueueMessageError> =>
    Result.mapError(
      decode(input, parseOptions),
      (error) => new QueueMessageError({ reason: "Malformed", message: `${label}: ${error.message}` })
    )

const parseJson = Schema.decodeUnknownResult(Schema.fromJsonString(Schema.Unknown))
const decodeEventBridgeEvent = decoder("EventBridge event", Schema.decodeUnknownResult(EventBridgeEvent))
const decodeSpot = decoder(
  detailTypes.spotInterruptionWarning,
  Schema.decodeUnknownResult(SpotInterruptionWarning)
)
const decodeRebalance = decoder(
  detailTypes.rebalanceRecommendation,
  Schema.decodeUnknownResult(RebalanceRecommendation)
)
const decodeStateChange = decoder(
  detailTypes.instanceStateChange,
  Schema.decodeUnknownResult(InstanceStateChangeNotification)
)
const decodeAutoScalingEvent = decoder(
  "Auto Scaling event",
  Schema.decodeUnknownResult(
    Schema.Struct({
      detail: Schema.Struct({
        LifecycleTransition: Schema.optionalKey(Schema.String),
        Event: Schema.optionalKey(Schema.String)
      })
    })
  )
)
const decodeLifecycleActionEvent = decoder(
  "lifecycle action",
  Schema.decodeUnknownResult(LifecycleActionEvent)
)
const decodeHealthEvent = decoder(detailTypes.healthEvent, Schema.decodeUnknownResult(HealthEvent))
const decodeHealthScheduledChange = decoder(
  "AWS Health scheduled change",
  Schema.decodeUnknownResult(HealthScheduledChangeEvent)
)
const decodeLifecycleNotification = decoder(
  "Auto Scaling lifecycle notification",
  Schema.decodeUnknownResult(LifecycleNotification)
)
const decodeSnsNotification = decoder("SNS notification", Schema.decodeUnknownResult(SnsNotification))
const isTestNotification = Schema.is(AutoScalingTestNotification)
const isInstanceId = Schema.is(InterruptionEvent.InstanceId)
const isDrainingState = Schema.is(InterruptionEvent.InstanceState)

interface Context {
  readonly now: Date
}

/** The time a message names, or now when it names none or not in RFC 3339 (the Go handler's fallback). */
const timeOf = (time: string | undefined, context: Context): Date =>
  (time === undefined ? undefined : parseRfc3339(time)) ?? context.now

/** The fields every queue event shares, in their encoded form. */
const common = (fields: {
  readonly id: string
  readonly instanceId: string
  readonly startTime: Date
  readonly description: string
}) => ({
  id: fields.id,
  monitor: "SQS_MONITOR" as const,
  instanceId: fields.instanceId,
  startTime: fields.startTime.toISOString(),
  description: fields.description
})

/** Validates an event against the shared model: a message that makes no valid event is malformed, not a crash. */
const toEvent = (encoded: unknown): Result.Result<InterruptionEvent.InterruptionEvent, QueueMessageError> =>
  Result.mapError(
    InterruptionEvent.decode(encoded),
    (error) =>
      new QueueMessageError({
        reason: "Malformed",
        message: `the message makes no valid event: ${error.message}`
      })
  )

const eventsOf = (
  first: InterruptionEvent.InterruptionEvent,
  ...rest: Array<InterruptionEvent.InterruptionEvent>
): Decoded => ({ _tag: "Events", events: [first, ...rest] })

// Descriptions are the Go handler's texts (without its trailing " \n"), with times in RFC 3339.

const fromEc2 = (
  body: unknown,
  detailType: string,
  context: Context
): Result.Result<Decoded, QueueMessageError> =>
  Result.gen(function* () {
    switch (detailType) {
      case detailTypes.spotInterruptionWarning: {
        const message = yield* decodeSpot(body)
        const sentAt = timeOf(message.time, context)
        const instanceId = message.detail["instance-id"]
        return eventsOf(
          yield* toEvent({
            kind: "SpotInterruptionNotice",
            ...common({
              id: EventId.fromQueueMessage("spotInterruption", message.id),
              instanceId,
              // The model's start is the interruption itself (as IMDS gives it), which the handler uses as the
              // drain's deadline; the Go handler starts at the warning's time, two minutes earlier.
              startTime: new Date(sentAt.getTime() + spotInterruptionLeadMillis),
              description: `Spot Interruption notice for instance ${instanceId} was sent at ${formatRfc3339(sentAt)}`
            }),
            // EC2 always says; a warning without it still drains (the Go handler never reads the action).
            action:
              message.detail["instance-action"] === undefined || message.detail["instance-action"] === ""
                ? "terminate"
                : message.detail["instance-action"]
          })
        )
      }
      case detailTypes.rebalanceRecommendation: {
        const message = yield* decodeRebalance(body)
        const time = timeOf(message.time, context)
        const instanceId = message.detail["instance-id"]
        return eventsOf(
          yield* toEvent({
            kind: "RebalanceRecommendation",
            ...common({
              id: EventId.fromQueueMessage("rebalanceRecommendation", message.id),
              instanceId,
              startTime: time,
              description: `Rebalance recommendation event received. Instance ${instanceId} will be cordoned at ${formatRfc3339(time)}`
            })
          })
        )
      }
      case detailTypes.instanceStateChange: {
        const message = yield* decodeStateChange(body)
        const state = message.detail.state.toLowerCase()
        // The Go handler tests whether the state is a substring of "stopping,stopped,shutting-down,terminated",
        // which also lets "", "stop" or "ping" through; only the four states themselves drain here.
        if (!isDrainingState(state)) {
          return ignored(
            `instance ${message.detail["instance-id"]} went into state ${show(message.detail.state)}, not one nth drains for (stopping, stopped, shutting-down, terminated)`
          )
        }
        const time = timeOf(message.time, context)
        const instanceId = message.detail["instance-id"]
        return eventsOf(
          yield* toEvent({
            kind: "InstanceStateChange",
            ...common({
              id: EventId.fromQueueMessage("instanceStateChange", message.id),
              instanceId,
              startTime: time,
              description: `EC2 State Change event received. Instance ${instanceId} went into ${message.detail.state} at ${formatRfc3339(time)}`
            }),
            state
          })
        )
      }
      default:
        // As the Go handler: other aws.ec2 events (EBS, AMI, …) are dropped and the message deleted.
        return ignored(`aws.ec2 event ${show(detailType)} is not one nth acts on`)
    }
  })

interface LifecycleAction {
  readonly messageId: string
  readonly time: string | undefined
  readonly fields: {
    readonly LifecycleActionToken: string
    readonly AutoScalingGroupName: string
    readonly LifecycleHookName: string
    readonly EC2InstanceId: string
    readonly LifecycleTransition: string
    readonly NotificationMetadata?: string
  }
}

const lifecycleEvent = (
  action: LifecycleAction,
  context: Context
): Result.Result<InterruptionEvent.InterruptionEvent, QueueMessageError> => {
  const { fields } = action
  const time = timeOf(action.time, context)
  const launching = fields.LifecycleTransition === lifecycleTransitions.launching
  return toEvent({
    kind: launching ? "AsgLifecycleLaunch" : "AsgLifecycleTermination",
    ...common({
      // Launch and termination share the prefix in the Go handler too.
      id: EventId.fromQueueMessage("asgLifecycle", action.messageId),
      instanceId: fields.EC2InstanceId,
      startTime: time,
      description: launching
        ? `ASG Lifecycle Launch event received. Instance was started at ${formatRfc3339(time)}`
        : `ASG Lifecycle Termination event received. Instance will be interrupted at ${formatRfc3339(time)}`
    }),
    autoScalingGroupName: fields.AutoScalingGroupName,
    lifecycleHookName: fields.LifecycleHookName,
    lifecycleActionToken: fields.LifecycleActionToken,
    ...(fields.NotificationMetadata === undefined
      ? {}
      : { notificationMetadata: fields.NotificationMetadata })
  })
}

const isLifecycleTransition = (transition: unknown): boolean =>
  transition === lifecycleTransitions.launching || transition === lifecycleTransitions.terminating

const fromAutoScalingEvent = (
  body: unknown,
  detailType: string,
  context: Context
): Result.Result<Decoded, QueueMessageError> =>
  Result.gen(function* () {
    const { detail } = yield* decodeAutoScalingEvent(body)
    if (isTestNotification(detail)) return testNotification
    // The Go handler reads the transition whatever the detail-type; any other aws.autoscaling event (launch or
    // terminate successful, …) makes no event and the message is deleted.
    if (!isLifecycleTransition(detail.LifecycleTransition)) {
      return ignored(
        `Auto Scaling event ${show(detailType)} is no lifecycle action nth completes (LifecycleTransition ${show(detail.LifecycleTransition)})`
      )
    }
    const message = yield* decodeLifecycleActionEvent(body)
    return eventsOf(
      yield* lifecycleEvent({ messageId: message.id, time: message.time, fields: message.detail }, context)
    )
  })

const fromHealthEvent = (body: unknown, context: Context): Result.Result<Decoded, QueueMessageError> =>
  Result.gen(function* () {
    const { detail } = yield* decodeHealthEvent(body)
    if (detail.service !== "EC2") {
      return ignored(`AWS Health event for service ${show(detail.service)}; nth acts on EC2 ones`)
    }
    if (detail.eventTypeCategory !== "scheduledChange") {
      return ignored(
        `AWS Health EC2 event of category ${show(detail.eventTypeCategory)}; nth acts on scheduledChange ones`
      )
    }
    const message = yield* decodeHealthScheduledChange(body)
    const named =
      message.detail.affectedEntities !== undefined && message.detail.affectedEntities.length > 0
        ? message.detail.affectedEntities.map((entity) => entity.entityValue)
        : (message.resources ?? [])
    // Entities that are not instances (a Dedicated Host, say) are skipped, as the Go handler's EC2 lookup does.
    // Each instance once: the id is per instance.
    const instanceIds = [...new Set(named.filter(isInstanceId))]
    const time = timeOf(message.time, context)
    const events: Array<InterruptionEvent.InterruptionEvent> = []
    for (const instanceId of instanceIds) {
      events.push(
        yield* toEvent({
          kind: "HealthScheduledChange",
          ...common({
            // One id per instance: the Go handler gives every instance of the message the same id, so its store
            // keeps only the first.
            id: EventId.fromQueueMessage("healthScheduledChange", message.id, instanceId),
            instanceId,
            // Drain at once, as the Go handler: the change may come before its announced window.
            startTime: context.now,
            description: `AWS Health scheduled change event received. Instance ${instanceId} will be interrupted at ${formatRfc3339(time)}`
          }),
          eventArn: message.detail.eventArn,
          eventTypeCode: message.detail.eventTypeCode
        })
      )
    }
    const [first, ...rest] = events
    return first === undefined
      ? ignored(`AWS Health scheduled change ${message.detail.eventArn} names no EC2 instance`)
      : eventsOf(first, ...rest)
  })

const fromEventBridge = (
  body: Readonly<Record<string, unknown>>,
  context: Context
): Result.Result<Decoded, QueueMessageError> =>
  Result.gen(function* () {
    const event = yield* decodeEventBridgeEvent(body)
    const detailType = event["detail-type"]
    switch (event.source) {
      case "aws.ec2":
        return yield* fromEc2(body, detailType, context)
      case "aws.autoscaling":
        return yield* fromAutoScalingEvent(body, detailType, context)
      case "aws.health":
        if (detailType === detailTypes.healthEvent) return yield* fromHealthEvent(body, context)
        return yield* fail("UnknownKind", `AWS Health events of type ${show(detailType)} are not handled`)
      default:
        return yield* fail(
          "UnknownKind",
          `EventBridge events from source ${show(event.source)} (${show(detailType)}) are not handled; nth reads aws.ec2, aws.autoscaling and aws.health`
        )
    }
  })

const fromLifecycleNotification = (
  body: Readonly<Record<string, unknown>>,
  context: Context
): Result.Result<Decoded, QueueMessageError> =>
  Result.gen(function* () {
    if (isTestNotification(body)) return testNotification
    const transition = body.LifecycleTransition
    if (isLifecycleTransition(transition)) {
      const message = yield* decodeLifecycleNotification(body)
      return eventsOf(
        yield* lifecycleEvent({ messageId: message.RequestId, time: message.Time, fields: message }, context)
      )
    }
    // An Auto Scaling instance notification (EC2_INSTANCE_LAUNCH, EC2_INSTANCE_TERMINATE, their _ERROR forms) is
    // no lifecycle action: nothing waits on it. The Go handler keeps it in the queue as an error; it is dropped
    // here so a queue that also receives the group's notifications does not fill up.
    if (transition === undefined && typeof body.Event === "string" && body.Event.startsWith("autoscaling:")) {
      return ignored(`Auto Scaling notification ${show(body.Event)} is no lifecycle action`)
    }
    if (transition !== undefined) {
      return yield* fail(
        "UnknownKind",
        `Auto Scaling lifecycle notification: LifecycleTransition must be ${lifecycleTransitions.launching} or ${lifecycleTransitions.terminating}, got ${show(transition)}\n  at ["LifecycleTransition"]`
      )
    }
    return yield* fail(
      "UnknownKind",
      `neither an EventBridge event (no "detail-type") nor an Auto Scaling notification (no "LifecycleTransition" or "Event"); keys: ${show(Object.keys(body))}`
    )
  })

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const jsonKind = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`

const parse = (text: string, what: string): Result.Result<unknown, QueueMessageError> =>
  Result.mapError(
    parseJson(text),
    () => new QueueMessageError({ reason: "NotJson", message: `${what} is not JSON: ${show(text)}` })
  )

/** `inSns`: the JSON came out of an SNS notification's `Message`, which is never itself wrapped again. */
const fromJson = (
  json: unknown,
  context: Context,
  inSns: boolean
): Result.Result<Decoded, QueueMessageError> => {
  if (!isRecord(json)) return fail("UnknownKind", `the message is ${jsonKind(json)}, not a JSON object`)
  const detailType = json["detail-type"]
  // As the Go handler: a body without a detail-type (or an empty one) is an Auto Scaling notification.
  if (typeof detailType === "string" && detailType !== "") return fromEventBridge(json, context)
  if (detailType !== undefined && detailType !== null && typeof detailType !== "string") {
    return fail(
      "Malformed",
      `EventBridge event: Expected string, got ${show(detailType)}\n  at ["detail-type"]`
    )
  }
  if (!inSns && "Message" in json) return fromSns(json, context)
  return fromLifecycleNotification(json, context)
}

const fromSns = (
  body: Readonly<Record<string, unknown>>,
  context: Context
): Result.Result<Decoded, QueueMessageError> =>
  Result.gen(function* () {
    // A queue subscribed to a topic in another account first receives the subscription confirmation.
    if (typeof body.Type === "string" && body.Type !== "Notification") {
      return ignored(`SNS ${show(body.Type)} message, not a notification`)
    }
    const notification = yield* decodeSnsNotification(body)
    const inner = yield* parse(notification.Message, `the SNS notification's Message`)
    // The notification inside is decoded as if it had come alone (an Auto Scaling notification, or an
    // EventBridge event sent through SNS), and its errors say where it was.
    return yield* Result.mapError(
      fromJson(inner, context, true),
      (error) =>
        new QueueMessageError({ reason: error.reason, message: `in the SNS Message: ${error.message}` })
    )
  })

/**
 * Decodes an SQS message body.
 *
 * - `Events`: act on each event (one, or one per instance of an AWS Health event).
 * - `TestNotification`: the Auto Scaling test notification; delete it.
 * - `Ignored`: a message nth knows and does not act on; delete it.
 * - `QueueMessageError`: `NotJson`, `UnknownKind` (a source, event type or lifecycle transition nth does not
 *   handle) or `Malformed` (a field missing or wrong, named by its path). Never throws.
 *
 * Event ids are `EventId.fromQueueMessage` of the EventBridge `id` (or the notification's `RequestId`), so a
 * message received twice makes the same events.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decode = (
  body: string,
  context: DecodeContext = {}
): Result.Result<Decoded, QueueMessageError> => {
  const resolved: Context = { now: context.now ?? new Date() }
  return Result.flatMap(parse(body, "the body"), (json) => fromJson(json, resolved, false))
}

/**
 * {@link decode} with the time from the Effect `Clock` (so `TestClock` controls it).
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeEffect = (body: string): Effect.Effect<Decoded, QueueMessageError> =>
  Effect.flatMap(Clock.currentTimeMillis, (millis) =>
    Effect.fromResult(decode(body, { now: new Date(millis) }))
  )
