/**
 * Stable event ids: the dedupe key of an event. The same notice seen on every poll, or redelivered by SQS, gets
 * the same id, so a handler acts on it once. Prefixes and derivations follow the Go handler, so ids in logs,
 * taints and labels look the same after a migration; where the Go handler's id is not stable (the ASG target
 * lifecycle state, which it hashes with the current time) or not unique (one AWS Health event naming several
 * instances), nth derives a stable, unique one instead.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"

const sha256Hex = (text: string): string => createHash("sha256").update(text).digest("hex")
const hex = (text: string): string => Buffer.from(text, "utf8").toString("hex")

/**
 * A Spot interruption notice read from IMDS, from the notice's own fields (as IMDS returned them).
 *
 * @category constructors
 * @since 0.1.0
 */
export const spotInterruptionFromImds = (notice: {
  readonly action: string
  readonly time: string
}): string => `spot-itn-${sha256Hex(`&{${notice.action} ${notice.time}}`)}`

/**
 * A rebalance recommendation read from IMDS, from its `noticeTime` (as IMDS returned it).
 *
 * @category constructors
 * @since 0.1.0
 */
export const rebalanceRecommendationFromImds = (noticeTime: string): string =>
  `rebalance-recommendation-${sha256Hex(`&{${noticeTime}}`)}`

/**
 * An EC2 scheduled event read from IMDS: EC2's own `EventId`, which is already unique and stable.
 *
 * @category constructors
 * @since 0.1.0
 */
export const scheduledMaintenanceFromImds = (scheduledEventId: string): string => scheduledEventId

/**
 * The ASG target lifecycle state `Terminated` read from IMDS. An instance is terminated once, so the instance id
 * identifies the notice.
 *
 * @category constructors
 * @since 0.1.0
 */
export const targetLifecycleTerminatedFromImds = (instanceId: string): string =>
  `target-lifecycle-state-terminated-${instanceId}`

/**
 * The EventBridge (or direct ASG notification) sources and the id prefix of each.
 *
 * @category constants
 * @since 0.1.0
 */
export const queuePrefixes = {
  asgLifecycle: "asg-lifecycle-term-",
  spotInterruption: "spot-itn-event-",
  rebalanceRecommendation: "rebalance-recommendation-event-",
  instanceStateChange: "ec2-state-change-event-",
  healthScheduledChange: "aws-health-scheduled-change-event-"
} as const

/**
 * An event delivered through SQS, from the EventBridge event's `id` (or the ASG notification's `RequestId`).
 * An AWS Health event can name several instances: each gets its own id, suffixed with the instance id.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromQueueMessage = (
  source: keyof typeof queuePrefixes,
  messageEventId: string,
  instanceId?: string
): string => {
  const id = `${queuePrefixes[source]}${hex(messageEventId)}`
  return source === "healthScheduledChange" && instanceId !== undefined ? `${id}-${instanceId}` : id
}

/**
 * An event id cut to what a Kubernetes label or taint value may hold (63 characters, ending in an alphanumeric
 * character), for the taints and labels that name the event.
 *
 * @category formatting
 * @since 0.1.0
 */
export const toLabelValue = (eventId: string): string =>
  eventId
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "")
