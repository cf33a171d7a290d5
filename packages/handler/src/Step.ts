/**
 * The handler's steps as data: an ordered list, in the Go handler's order, that the handler runs for each event
 * it acts on, stopping at the first that fails. A program adds its own steps without editing the handler (queue
 * mode: lifecycle heartbeats alongside the drain, completing the lifecycle action after it).
 *
 *   pre-drain   taint · mark for uncordon after reboot          (reported as the Go handler's pre-drain task)
 *   cordon      exclude from load balancers · cordon · plan the rebalance lift
 *   drain       record drain started · drain · record drained     (only for CordonAndDrain)
 *   post-drain  out-of-service taint                              (only for CordonAndDrain)
 *   acknowledge (none in IMDS mode)
 *
 * Every step is idempotent: a restarted nth, or a retried event, does again only what is not done yet.
 *
 * @since 0.2.0
 */
import type { DrainReport } from "@nth/drainer"
import type { InterruptionEvent, NodeAction } from "@nth/events"
import { NodePlan, NodeRecord, type TaintManager } from "@nth/taint-manager"
import type { Effect } from "effect"
import type * as KubeEvents from "./KubeEvents.ts"

/**
 * Where a step belongs. The handler reports the `pre-drain` phase as the Go handler's pre-drain task (`PreDrain`
 * Event, `actions_total{node_action="pre-drain"}`) and the others as the cordon or cordon-and-drain action;
 * `drain` and `post-drain` steps run only when the action drains.
 *
 * @category models
 * @since 0.2.0
 */
export type Phase = "pre-drain" | "cordon" | "drain" | "post-drain" | "acknowledge"

/**
 * The order of the phases.
 *
 * @category constants
 * @since 0.2.0
 */
export const phases: ReadonlyArray<Phase> = ["pre-drain", "cordon", "drain", "post-drain", "acknowledge"]

/**
 * What a step knows: the event, its node and the action decided for it, and the services it may use.
 *
 * @category models
 * @since 0.2.0
 */
export interface Context {
  readonly event: InterruptionEvent.InterruptionEvent
  readonly nodeName: string
  readonly action: Extract<NodeAction.NodeAction, { _tag: "Cordon" | "CordonAndDrain" }>
  /** When the event was first seen (epoch ms). */
  readonly seenAt: number
  /** Where the drain must be over (the Spot notice's time, a scheduled event's window), if the event says. */
  readonly deadline: Date | undefined
  readonly taints: TaintManager.Service
  readonly events: KubeEvents.KubeEvents
  /**
   * Drains the node: the drain already under way on it if there is one (joining it, and moving its deadline
   * earlier if this event's is), else a new one. Used by the `drain` step.
   */
  readonly drainNode: () => Effect.Effect<Drained, unknown>
}

/**
 * A drain's end as the `drain` step sees it.
 *
 * @category models
 * @since 0.2.0
 */
export interface Drained {
  /** `Ran`: this event's drain; `Joined`: another event's drain of the same node, joined. */
  readonly _tag: "Ran" | "Joined"
  readonly report: DrainReport.DrainReport
}

/**
 * One step.
 *
 * @category models
 * @since 0.2.0
 */
export interface Step {
  /** Names the step in logs and failures ("cordon", "drain", "complete lifecycle action"). */
  readonly name: string
  readonly phase: Phase
  /** Whether the step has work for this event (default: always). */
  readonly appliesTo?: (context: Context) => boolean
  /**
   * Does the work; a failure fails the event (retried later). A step has `run` or {@link write}; given both,
   * `run` is what runs.
   */
  readonly run?: (context: Context) => Effect.Effect<unknown, unknown>
  /**
   * The step is one write to the node, computed for the event at hand: the handler sends it together with the
   * node writes right before and after it (and the node's claim, see `Handler.Options.coordination`) as one
   * request, which lands whole or not at all (see {@link NodePlan.sequence}). A failure fails the event.
   *
   * @since 0.3.0
   */
  readonly write?: (context: Context) => NodePlan.Compute<unknown>
  /**
   * Names another step: this one then runs in the background while that one runs, and is stopped when it ends
   * (lifecycle-action heartbeats during the drain). Its failures are logged, never fail the event.
   */
  readonly alongside?: string
}

/**
 * The node and event a taint-manager call is about.
 *
 * @category getters
 * @since 0.2.0
 */
export const targetOf = (context: Context) => ({
  nodeName: context.nodeName,
  event: { id: context.event.id, kind: context.event.kind }
})

/** The event a write is recorded for. */
const eventOf = (context: Context): NodePlan.EventRef => ({ id: context.event.id, kind: context.event.kind })

/**
 * What the handler's own steps need besides the {@link Context}.
 *
 * @category models
 * @since 0.2.0
 */
export interface DefaultsOptions {
  readonly excludeFromLoadBalancers: boolean
  readonly outOfServiceTaint: boolean
  /**
   * Plan the lift of a rebalance recommendation's cordon this long after it (`Handler.Options.rebalanceUncordonAfter`);
   * `0` or absent: never.
   *
   * @since 0.5.0
   */
  readonly rebalanceLiftAfterMs?: number
}

/**
 * The Go handler's steps, in its order.
 *
 * @category constructors
 * @since 0.2.0
 */
export const defaults = (options: DefaultsOptions): ReadonlyArray<Step> => [
  {
    name: "taint",
    phase: "pre-drain",
    appliesTo: ({ action }) => action.taint !== undefined,
    write: (context) => {
      const taint = context.action.taint
      return taint === undefined
        ? NodePlan.sequence([])
        : (node, now) => NodePlan.addTaint(node, { taint, event: eventOf(context) }, now)
    }
  },
  {
    name: "mark uncordon after reboot",
    phase: "pre-drain",
    appliesTo: ({ action }) => action.markUncordonAfterReboot,
    write: (context) => (node, now) =>
      NodePlan.markUncordonAfterReboot(node, { event: eventOf(context) }, now)
  },
  {
    name: "exclude from load balancers",
    phase: "cordon",
    appliesTo: () => options.excludeFromLoadBalancers,
    write: (context) => (node, now) =>
      NodePlan.excludeFromLoadBalancers(node, { event: eventOf(context) }, now)
  },
  {
    name: "cordon",
    phase: "cordon",
    write: (context) => (node, now) => NodePlan.cordon(node, { event: eventOf(context) }, now)
  },
  {
    // With the cordon, in its request: the record says when the cordon is lifted unless something follows.
    name: "plan the rebalance lift",
    phase: "cordon",
    appliesTo: ({ event, action }) =>
      (options.rebalanceLiftAfterMs ?? 0) > 0 &&
      event.kind === "RebalanceRecommendation" &&
      action._tag === "Cordon",
    write: (context) => (node, now) =>
      NodePlan.planRebalanceLift(
        node,
        { event: eventOf(context), afterMs: options.rebalanceLiftAfterMs ?? 0 },
        now
      )
  },
  {
    name: "record drain started",
    phase: "drain",
    write: (context) => (node, now) => NodePlan.recordDrainStarted(node, { event: eventOf(context) }, now)
  },
  { name: "drain", phase: "drain", run: (context) => context.drainNode() },
  {
    name: "record drained",
    phase: "drain",
    write: (context) => (node, now) => NodePlan.recordDrained(node, { event: eventOf(context) }, now)
  },
  {
    name: "out-of-service taint",
    phase: "post-drain",
    appliesTo: () => options.outOfServiceTaint,
    write: (context) => (node, now) =>
      NodePlan.addTaint(node, { taint: NodeRecord.outOfServiceTaint, event: eventOf(context) }, now)
  }
]

/**
 * `steps` with `added` inserted right after the step named `after` (at the end when there is none).
 *
 * @category combinators
 * @since 0.2.0
 */
export const insertAfter = (
  steps: ReadonlyArray<Step>,
  after: string,
  ...added: ReadonlyArray<Step>
): ReadonlyArray<Step> => {
  const index = steps.findIndex((step) => step.name === after)
  return index === -1
    ? [...steps, ...added]
    : [...steps.slice(0, index + 1), ...added, ...steps.slice(index + 1)]
}
