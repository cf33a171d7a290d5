/**
 * fast-check arbitraries for the JSON form of every event kind, written by hand from the AWS sources rather than
 * derived from the schema, so a mistake in the schema shows up as a failing property instead of being copied.
 */
import fc from "fast-check"
import type { InterruptionEvent } from "../src/index.ts"

const hex = (length: number) =>
  fc
    .array(fc.constantFrom(..."0123456789abcdef"), { minLength: length, maxLength: length })
    .map((cs) => cs.join(""))

export const instanceId = fc.oneof(hex(17), hex(8)).map((h) => `i-${h}`)
const zone = fc.constantFrom("us-east-1a", "eu-west-1b", "ap-southeast-2c")

// Whole milliseconds within years EC2 can plausibly name; ISO strings so that encode(decode(x)) === x.
export const isoTime = fc
  .integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) })
  .map((ms) => new Date(ms).toISOString())

const text = fc.string({ maxLength: 40 })
const nonEmpty = fc.string({ minLength: 1, maxLength: 40 })

const common = (monitor: fc.Arbitrary<InterruptionEvent.Monitor>) =>
  fc
    .record(
      {
        id: nonEmpty,
        monitor,
        instanceId,
        nodeName: nonEmpty,
        zone,
        withProviderId: fc.boolean(),
        startTime: isoTime,
        endTime: isoTime,
        description: text
      },
      { requiredKeys: ["id", "monitor", "instanceId", "zone", "withProviderId", "startTime", "description"] }
    )
    .map(({ zone, withProviderId, ...fields }) => ({
      ...fields,
      ...(withProviderId ? { providerId: `aws:///${zone}/${fields.instanceId}` } : {})
    }))

// AWS may add actions and codes; the model takes any non-empty text, so the generators mix in unknown ones.
const unknownText = fc.string({ minLength: 1, maxLength: 24 })
export const knownSpotActions = ["terminate", "stop", "hibernate"] as const
export const knownScheduledCodes = [
  "instance-reboot",
  "system-reboot",
  "system-maintenance",
  "instance-retirement",
  "instance-stop"
] as const
export const spotAction = fc.oneof(fc.constantFrom(...knownSpotActions), unknownText)
export const scheduledCode = fc.oneof(fc.constantFrom(...knownScheduledCodes), unknownText)

const imds = (...monitors: Array<InterruptionEvent.Monitor>) => common(fc.constantFrom(...monitors))
const queue = common(fc.constant("SQS_MONITOR" as const))

const lifecycleHook = fc.record(
  {
    autoScalingGroupName: nonEmpty,
    lifecycleHookName: nonEmpty,
    lifecycleActionToken: fc.uuid(),
    notificationMetadata: text
  },
  { requiredKeys: ["autoScalingGroupName", "lifecycleHookName", "lifecycleActionToken"] }
)

const withKind = <K extends InterruptionEvent.Kind, A extends object, B extends object>(
  kind: K,
  base: fc.Arbitrary<A>,
  own: fc.Arbitrary<B>
) => fc.tuple(base, own).map(([a, b]) => ({ kind, ...a, ...b }))

export const encodedByKind = {
  SpotInterruptionNotice: withKind(
    "SpotInterruptionNotice",
    fc.oneof(imds("SPOT_ITN_MONITOR"), queue),
    fc.record({ action: spotAction })
  ),
  RebalanceRecommendation: withKind(
    "RebalanceRecommendation",
    fc.oneof(imds("REBALANCE_RECOMMENDATION_MONITOR"), queue),
    fc.constant({})
  ),
  ScheduledMaintenance: withKind(
    "ScheduledMaintenance",
    imds("SCHEDULED_EVENT_MONITOR"),
    fc.record(
      {
        scheduledEventId: hex(17).map((h) => `instance-event-${h}`),
        code: scheduledCode,
        state: fc.constantFrom("active", "canceled", "completed"),
        notBefore: isoTime,
        notAfter: isoTime,
        notBeforeDeadline: isoTime
      },
      { requiredKeys: ["scheduledEventId", "code", "state", "notBefore"] }
    )
  ),
  HealthScheduledChange: withKind(
    "HealthScheduledChange",
    queue,
    fc.record({
      eventArn: nonEmpty.map((s) => `arn:aws:health:us-east-1::event/EC2/${s}`),
      eventTypeCode: fc.constantFrom(
        "AWS_EC2_INSTANCE_STOP_SCHEDULED",
        "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED"
      )
    })
  ),
  AsgLifecycleTermination: withKind("AsgLifecycleTermination", queue, lifecycleHook),
  AsgLifecycleLaunch: withKind("AsgLifecycleLaunch", queue, lifecycleHook),
  AsgTargetLifecycleState: withKind(
    "AsgTargetLifecycleState",
    imds("ASG_LIFECYCLE_MONITOR"),
    fc.constant({ targetLifecycleState: "Terminated" as const })
  ),
  InstanceStateChange: withKind(
    "InstanceStateChange",
    queue,
    fc.record({ state: fc.constantFrom("stopping", "stopped", "shutting-down", "terminated") })
  )
} satisfies { readonly [K in InterruptionEvent.Kind]: fc.Arbitrary<{ readonly kind: K }> }

/** The JSON form of an event of any kind. */
export const encodedEvent: fc.Arbitrary<Record<string, unknown> & { readonly kind: InterruptionEvent.Kind }> =
  fc.oneof(...Object.values(encodedByKind))
