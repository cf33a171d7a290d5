/**
 * Names that leave the process: the Kubernetes Event reason for each kind, and the Go handler's kind names used
 * in metrics labels, logs and webhooks. Kept identical to the Go handler's so dashboards and alerts survive a
 * migration.
 *
 * @since 0.1.0
 */
import type { Kind } from "./InterruptionEvent.ts"

/**
 * The Kubernetes Event reason emitted when an event of this kind is received.
 *
 * @category constants
 * @since 0.1.0
 */
export const received: { readonly [K in Kind]: string } = {
  SpotInterruptionNotice: "SpotInterruption",
  RebalanceRecommendation: "RebalanceRecommendation",
  ScheduledMaintenance: "ScheduledEvent",
  HealthScheduledChange: "ScheduledEvent",
  AsgLifecycleTermination: "ASGLifecycle",
  AsgTargetLifecycleState: "ASGLifecycle",
  AsgLifecycleLaunch: "UnknownInterruption",
  InstanceStateChange: "StateChange"
}

/**
 * The Go handler's kind constant (`SPOT_ITN`, `SCHEDULED_EVENT`, …) for each kind.
 *
 * @category constants
 * @since 0.1.0
 */
export const legacyKind: { readonly [K in Kind]: string } = {
  SpotInterruptionNotice: "SPOT_ITN",
  RebalanceRecommendation: "REBALANCE_RECOMMENDATION",
  ScheduledMaintenance: "SCHEDULED_EVENT",
  HealthScheduledChange: "SCHEDULED_EVENT",
  AsgLifecycleTermination: "ASG_LIFECYCLE",
  AsgTargetLifecycleState: "ASG_LIFECYCLE",
  AsgLifecycleLaunch: "ASG_LAUNCH_LIFECYCLE",
  InstanceStateChange: "STATE_CHANGE"
}

/**
 * Kubernetes Event reasons for what nth does to a node (the Go handler's).
 *
 * @category constants
 * @since 0.1.0
 */
export const nodeAction = {
  Cordon: "Cordon",
  CordonError: "CordonError",
  CordonAndDrain: "CordonAndDrain",
  CordonAndDrainError: "CordonAndDrainError",
  PreDrain: "PreDrain",
  PreDrainError: "PreDrainError",
  PostDrain: "PostDrain",
  PostDrainError: "PostDrainError",
  Uncordon: "Uncordon",
  UncordonError: "UncordonError",
  MonitorError: "MonitorError",
  PodEviction: "PodEviction",
  /** nth's own: a pod a drain leaves alone at its own request, `nth.aws/do-not-evict` (since 0.5.0). */
  PodSkipped: "PodSkipped",
  /** nth's own: a node label nth reads holds a value it does not know (since 0.5.0). */
  InvalidNodeLabel: "InvalidNodeLabel"
} as const
