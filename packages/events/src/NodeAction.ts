/**
 * What a handler does with an event: one pure function of the event and the handler's settings, shared by the
 * DaemonSet (IMDS mode) and Deployment (queue mode) apps so both decide alike.
 *
 * The rules are the Go handler's, with its setting names:
 * - `cordonOnly` turns every drain into a cordon;
 * - in IMDS mode the `enable*` settings switch monitors on and off, so an event of a disabled kind is ignored;
 *   in queue mode they don't apply (every kind that reaches the queue is acted on), except the rebalance ones
 *   when set (`rebalanceSettingsGiven`);
 * - a rebalance recommendation is cordoned only, unless `enableRebalanceDraining`; in queue mode with neither
 *   rebalance setting given, it is cordoned and drained (the Go handler's queue mode);
 * - a node's `nth.aws/rebalance-action` label (`cordon`, `drain`, `ignore`) overrides the rebalance switches for
 *   that node ({@link NodeChoices});
 * - a scheduled event that is `canceled` or `completed` undoes what nth did (uncordon);
 * - scheduled reboots, stops and retirements mark the node so that nth uncordons it when it comes back;
 * - an ASG termination hook is completed after the drain; a launch hook once the node is Ready.
 *
 * @since 0.1.0
 */

import { toLabelValue } from "./EventId.ts"
import type {
  InterruptionEvent,
  Kind,
  OfKind,
  ScheduledCode,
  ScheduledEventCode
} from "./InterruptionEvent.ts"

/**
 * Where the handler runs: on the node itself, reading IMDS, or centrally, reading the SQS queue.
 *
 * @category models
 * @since 0.1.0
 */
export type Mode = "imds" | "queue"

/**
 * The effects a taint may have.
 *
 * @category models
 * @since 0.1.0
 */
export type TaintEffect = "NoSchedule" | "PreferNoSchedule" | "NoExecute"

/**
 * The rules that decide what happens to an event: the Go handler's switches, under its names
 * (`ENABLE_SPOT_INTERRUPTION_DRAINING` → `enableSpotInterruptionDraining`, …) and defaults. (Renamed from
 * `Settings` in 0.2.0: the program's settings are `@nth/handler`'s `Settings`; these are what it maps them to.)
 *
 * @category models
 * @since 0.2.0
 */
export interface Rules {
  readonly mode: Mode
  /** Cordon, never drain, whatever the event. Default `false`. */
  readonly cordonOnly: boolean
  /** IMDS mode: act on Spot interruption notices. Default `true`. */
  readonly enableSpotInterruptionDraining: boolean
  /** IMDS mode: act on EC2 scheduled events (and uncordon after a scheduled reboot). Default `true`. */
  readonly enableScheduledEventDraining: boolean
  /** Cordon on rebalance recommendations (queue mode: see {@link Rules.rebalanceSettingsGiven}). Default `false`. */
  readonly enableRebalanceMonitoring: boolean
  /** Cordon and drain on rebalance recommendations (implies monitoring). Default `false`. */
  readonly enableRebalanceDraining: boolean
  /**
   * Queue mode: whether either rebalance switch was set. When neither was, a rebalance recommendation is cordoned
   * and drained, as the Go handler does in queue mode (so a migration changes nothing); when one was, both are
   * honoured as in IMDS mode (the Go handler ignores them in queue mode, its issue #786). Default `false`.
   */
  readonly rebalanceSettingsGiven?: boolean
  /** IMDS mode: act on the ASG target lifecycle state `Terminated`. Default `false`. */
  readonly enableAsgLifecycleDraining: boolean
  /** Taint the node with the kind's taint before acting. Default `false`. */
  readonly taintNode: boolean
  /** The effect of that taint. Default `NoSchedule`. */
  readonly taintEffect: TaintEffect
}

/**
 * The Go handler's defaults.
 *
 * @category constructors
 * @since 0.2.0
 */
export const defaultRules = (mode: Mode): Rules => ({
  mode,
  cordonOnly: false,
  enableSpotInterruptionDraining: true,
  enableScheduledEventDraining: true,
  enableRebalanceMonitoring: false,
  enableRebalanceDraining: false,
  enableAsgLifecycleDraining: false,
  taintNode: false,
  taintEffect: "NoSchedule"
})

/**
 * A taint nth puts on the node: one key per kind (the Go handler's keys, so existing tolerations keep working),
 * the event id as value.
 *
 * @category models
 * @since 0.1.0
 */
export interface Taint {
  readonly key: string
  readonly value: string
  readonly effect: TaintEffect
}

/**
 * How the event is acknowledged once the node is handled.
 * - `None`: nothing to tell AWS (IMDS notices, EC2 state changes, Health events).
 * - `CompleteLifecycleAction`: complete the ASG lifecycle hook with `CONTINUE`.
 *
 * @category models
 * @since 0.1.0
 */
export type Acknowledgement = "None" | "CompleteLifecycleAction"

/**
 * What to do with the node.
 *
 * - `Ignore`: nothing (the kind is switched off); `reason` says why.
 * - `Cordon`: taint (if any) and cordon, don't drain.
 * - `CordonAndDrain`: taint (if any), cordon, drain.
 * - `Uncordon`: the event went away (a cancelled or completed scheduled event): undo what nth did for it.
 * - `AwaitNodeReady`: a node is joining; acknowledge once it is Ready.
 *
 * `markUncordonAfterReboot` asks the handler to record on the node that it should be uncordoned when the
 * instance comes back from the reboot (or stop) it was drained for.
 *
 * @category models
 * @since 0.1.0
 */
export type NodeAction =
  | { readonly _tag: "Ignore"; readonly reason: string }
  | {
      readonly _tag: "Cordon" | "CordonAndDrain"
      readonly taint: Taint | undefined
      readonly markUncordonAfterReboot: boolean
      readonly acknowledgement: Acknowledgement
    }
  | { readonly _tag: "Uncordon"; readonly reason: string }
  | { readonly _tag: "AwaitNodeReady"; readonly acknowledgement: Acknowledgement }

/**
 * The taint key of each kind (`undefined`: the kind is never tainted). Scheduled maintenance is tainted for every
 * code (the Go handler taints only reboots, stops and retirements in IMDS mode, leaving a node under
 * `system-maintenance` without a taint even with `TAINT_NODE=true`).
 *
 * @category constants
 * @since 0.1.0
 */
export const taintKeys: { readonly [K in Kind]: string | undefined } = {
  SpotInterruptionNotice: "aws-node-termination-handler/spot-itn",
  RebalanceRecommendation: "aws-node-termination-handler/rebalance-recommendation",
  ScheduledMaintenance: "aws-node-termination-handler/scheduled-maintenance",
  HealthScheduledChange: "aws-node-termination-handler/scheduled-maintenance",
  AsgLifecycleTermination: "aws-node-termination-handler/asg-lifecycle-termination",
  AsgTargetLifecycleState: "aws-node-termination-handler/asg-lifecycle-termination",
  AsgLifecycleLaunch: undefined,
  InstanceStateChange: undefined
}

/**
 * Scheduled event codes after which the instance comes back (rebooted, or stopped and started again). Any other
 * code, known or not, is drained without that mark.
 *
 * @category constants
 * @since 0.1.0
 */
export const restartCodes: ReadonlySet<ScheduledEventCode> = new Set([
  "instance-reboot",
  "system-reboot",
  "instance-stop",
  "instance-retirement"
])

/**
 * Whether a scheduled event's code is one of {@link restartCodes}.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isRestartCode = (code: ScheduledCode): boolean => (restartCodes as ReadonlySet<string>).has(code)

const ignore = (reason: string): NodeAction => ({ _tag: "Ignore", reason })

const act = (
  event: InterruptionEvent,
  settings: Rules,
  options: {
    readonly drain: boolean
    readonly markUncordonAfterReboot?: boolean
    readonly acknowledgement?: Acknowledgement
  }
): NodeAction => {
  const key = taintKeys[event.kind]
  return {
    _tag: options.drain && !settings.cordonOnly ? "CordonAndDrain" : "Cordon",
    taint:
      settings.taintNode && key !== undefined
        ? { key, value: toLabelValue(event.id), effect: settings.taintEffect }
        : undefined,
    markUncordonAfterReboot: options.markUncordonAfterReboot ?? false,
    acknowledgement: options.acknowledgement ?? "None"
  }
}

// In IMDS mode a switched-off kind has no monitor, so an event of that kind is ignored; `off` says which setting.
const imdsOnly = (settings: Rules, enabled: boolean, off: string): NodeAction | undefined =>
  settings.mode === "imds" && !enabled ? ignore(off) : undefined

/**
 * The node label that chooses, for its node alone, what a rebalance recommendation does there, whatever the
 * rebalance settings say (a node pool of stateless workers drains on a recommendation, one of long jobs only
 * cordons, another ignores it). It is set on the node group, so every node of the pool carries it.
 *
 * @category constants
 * @since 0.5.0
 */
export const rebalanceActionLabel = "nth.aws/rebalance-action"

/**
 * The values of {@link rebalanceActionLabel}.
 *
 * @category models
 * @since 0.5.0
 */
export type RebalanceChoice = "cordon" | "drain" | "ignore"

/**
 * What a node's {@link rebalanceActionLabel} asks for: `None` without the label, `Unknown` (with the value) when
 * the value is none of `cordon`, `drain`, `ignore` (case and surrounding blanks do not matter). An unknown value
 * must be reported by the caller; the settings then apply.
 *
 * @category decoding
 * @since 0.5.0
 */
export const rebalanceChoiceOf = (
  labels: { readonly [key: string]: string } | undefined
):
  | { readonly _tag: "None" }
  | { readonly _tag: "Choice"; readonly choice: RebalanceChoice }
  | { readonly _tag: "Unknown"; readonly value: string } => {
  const value = labels?.[rebalanceActionLabel]
  if (value === undefined) return { _tag: "None" }
  const choice = value.trim().toLowerCase()
  return choice === "cordon" || choice === "drain" || choice === "ignore"
    ? { _tag: "Choice", choice }
    : { _tag: "Unknown", value }
}

/**
 * What nth says of a {@link rebalanceActionLabel} value it does not know (a Warning Event and a log line).
 *
 * @category decoding
 * @since 0.5.0
 */
export const unknownRebalanceChoice = (value: string): string =>
  `The node's label ${rebalanceActionLabel}="${value}" is not cordon, drain or ignore: the rebalance settings apply`

/**
 * What the event's node itself asks for, overriding the {@link Rules} for that node.
 *
 * @category models
 * @since 0.5.0
 */
export interface NodeChoices {
  /** From the node's {@link rebalanceActionLabel}: what a rebalance recommendation does on it. */
  readonly rebalance?: RebalanceChoice | undefined
}

const decisions: {
  readonly [K in Kind]: (event: OfKind<K>, settings: Rules, node: NodeChoices) => NodeAction
} = {
  SpotInterruptionNotice: (event, settings) =>
    imdsOnly(
      settings,
      settings.enableSpotInterruptionDraining,
      "ENABLE_SPOT_INTERRUPTION_DRAINING is false"
    ) ?? act(event, settings, { drain: true }),

  RebalanceRecommendation: (event, settings, node) => {
    // The node's own choice overrides both switches (and queue mode's default); `cordonOnly` still wins.
    if (node.rebalance === "ignore") return ignore(`the node's ${rebalanceActionLabel} label is ignore`)
    if (node.rebalance !== undefined) return act(event, settings, { drain: node.rebalance === "drain" })
    const honoured = settings.mode === "imds" || settings.rebalanceSettingsGiven === true
    if (honoured && !settings.enableRebalanceMonitoring && !settings.enableRebalanceDraining)
      return ignore("ENABLE_REBALANCE_MONITORING and ENABLE_REBALANCE_DRAINING are false")
    return act(event, settings, { drain: !honoured || settings.enableRebalanceDraining })
  },

  ScheduledMaintenance: (event, settings) => {
    const disabled = imdsOnly(
      settings,
      settings.enableScheduledEventDraining,
      "ENABLE_SCHEDULED_EVENT_DRAINING is false"
    )
    if (disabled !== undefined) return disabled
    if (event.state !== "active") return { _tag: "Uncordon", reason: `scheduled event ${event.state}` }
    return act(event, settings, { drain: true, markUncordonAfterReboot: isRestartCode(event.code) })
  },

  HealthScheduledChange: (event, settings) => act(event, settings, { drain: true }),

  AsgLifecycleTermination: (event, settings) =>
    act(event, settings, { drain: true, acknowledgement: "CompleteLifecycleAction" }),

  AsgLifecycleLaunch: () => ({ _tag: "AwaitNodeReady", acknowledgement: "CompleteLifecycleAction" }),

  AsgTargetLifecycleState: (event, settings) =>
    imdsOnly(settings, settings.enableAsgLifecycleDraining, "ENABLE_ASG_LIFECYCLE_DRAINING is false") ??
    act(event, settings, { drain: true }),

  InstanceStateChange: (event, settings) => act(event, settings, { drain: true })
}

/**
 * Decides what to do with an event.
 *
 * @category decisions
 * @since 0.1.0
 */
export const decide = (event: InterruptionEvent, settings: Rules, node: NodeChoices = {}): NodeAction =>
  (decisions[event.kind] as (event: InterruptionEvent, settings: Rules, node: NodeChoices) => NodeAction)(
    event,
    settings,
    node
  )
