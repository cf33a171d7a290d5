/**
 * From event to node action, shared by the DaemonSet (IMDS mode) and Deployment (queue mode) programs.
 *
 * Each new event gets a decision from `NodeAction.decide`; an event to act on then goes through the ordered
 * {@link Step.Step} list (the Go handler's order, see `Step.ts`), stopping at the first step that fails. Every
 * action is logged, counted in the Go handler's metrics (`pre-drain`, `cordon`, `cordon-and-drain`, `uncordon`)
 * and, when enabled, reported as a Kubernetes Event with the Go handler's reasons and messages (one
 * `PodEviction` per evicted pod). A failed event can be handled again after `retryFailedAfter`.
 *
 * One drain per node at a time: a second event for a node being drained joins that drain (moving its deadline
 * earlier if its own is earlier) rather than evicting every pod again.
 *
 * A cancelled or completed scheduled event undoes nth's work only when the node's own record says nth acted on
 * that event and on no other: the in-memory store forgets across restarts, the record does not.
 *
 * The handler takes typed {@link Options}; `Settings.toHandlerOptions` maps the Go handler's environment
 * variables onto them.
 *
 * @since 0.1.0
 */
import type { V1Node } from "@kubernetes/client-node"
import { Drainer, type PodFilter } from "@nth/drainer"
import { type InterruptionEvent, NodeAction, Reason } from "@nth/events"
import { KubeClient, KubeError } from "@nth/kube"
import { NodeCondition, NodePlan, NodeRecord, TaintManager } from "@nth/taint-manager"
import {
  Cause,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Latch,
  Layer,
  Schedule
} from "effect"
import * as EventStore from "./EventStore.ts"
import * as NodeDrains from "./internal/nodeDrains.ts"
import * as KubeEvents from "./KubeEvents.ts"
import * as Metrics from "./Metrics.ts"
import * as Step from "./Step.ts"

// ---------------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------------

/**
 * What the handler does and how. Each field names the Go handler's setting it stands for.
 *
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** What each kind of event calls for (the `ENABLE_*`, `CORDON_ONLY`, `TAINT_*` settings; and the mode). */
  readonly actions: NodeAction.Rules
  /** Write nothing to the cluster, log what would be done (`DRY_RUN`). Default `false`. */
  readonly dryRun?: boolean
  readonly drain?: {
    /** Leave DaemonSet pods in place (`IGNORE_DAEMON_SETS`). Default `true`. */
    readonly ignoreDaemonSets?: boolean
    /** Evict pods with emptyDir volumes (`DELETE_LOCAL_DATA`). Default `true`. */
    readonly deleteEmptyDirData?: boolean
    /** Grace for evicted pods; negative: each pod's own (`POD_TERMINATION_GRACE_PERIOD`). Default `-1`. */
    readonly gracePeriodSeconds?: number
    /** The drain's timeout; `0`: none (`NODE_TERMINATION_GRACE_PERIOD`). Default `120`. */
    readonly timeoutSeconds?: number
    /**
     * Honour the pods' own choices: `nth.aws/drain-grace-period-seconds`, `nth.aws/evict-last`,
     * `nth.aws/do-not-evict` (`@nth/drainer`'s `podAnnotations`; `ENABLE_POD_DRAIN_ANNOTATIONS`). Default `false`.
     *
     * @since 0.5.0
     */
    readonly podAnnotations?: boolean
  }
  /** Label the node out of external load balancers before cordoning (`EXCLUDE_FROM_LOAD_BALANCERS`). */
  readonly excludeFromLoadBalancers?: boolean
  /** After a drain, taint `node.kubernetes.io/out-of-service` (`ENABLE_OUT_OF_SERVICE_TAINT`). */
  readonly outOfServiceTaint?: boolean
  /** nth's own pod, which a drain leaves alone (`POD_NAME`, `NAMESPACE`). */
  readonly ownPod?: { readonly name: string; readonly namespace?: string | undefined }
  /** Kubernetes Events (`EMIT_KUBERNETES_EVENTS`, `KUBERNETES_EVENTS_EXTRA_ANNOTATIONS`); off by default. */
  readonly kubernetesEvents?: Omit<KubeEvents.Options, "metrics">
  /** How long a failed event waits before it may be handled again. Default 5 seconds. */
  readonly retryFailedAfter?: Duration.Input
  /**
   * Several handlers share the nodes (queue mode's replicas on one queue): before acting on a node, the handler
   * claims it in the node's own record (`TaintManager.claim`, a write pinned to the node's resourceVersion),
   * renews the claim while it acts and gives it up after. An event for a node that another live handler holds is
   * `InProgress` (`heldBy`); an event the record shows done (by another handler, or by this one before a
   * restart) is `AlreadyDone`; work cut short (a replica killed) is resumed from the record once the claim
   * expires. Without it (IMDS mode: one handler per node), nothing is claimed.
   *
   * @since 0.3.0
   */
  readonly coordination?: {
    /** Who this handler is, unique among those sharing the nodes and stable across its restarts (the pod's name). */
    readonly holder: string
    /** How long a claim lasts unless renewed (renewed every third of it). Default 30 seconds. */
    readonly lease?: Duration.Input
  }
  /**
   * How long a drain waits, at most, while other events of this handler are still on their way to their node's
   * cordon. In a burst (a thousand Spot notices at once in queue mode) every node is then cordoned before the
   * drains begin: pods evicted from the first nodes are not rescheduled onto nodes about to be cordoned, and the
   * cordons are not held up behind the drains' requests. `0`: drains start at once. Default 5 seconds.
   *
   * @since 0.3.0
   */
  readonly cordonFirst?: Duration.Input
  /**
   * Lift a rebalance recommendation's cordon when nothing followed it: once this long has passed since nth
   * cordoned the node for the recommendation, and only if the node's record still shows that cordon alone (no
   * interruption, scheduled event or lifecycle action recorded since, no drain, no other handler at work), nth's
   * cordon and taint are undone (an operator's cordon stays). `0` or absent: never (the Go handler's behaviour;
   * `REBALANCE_UNCORDON_AFTER_SECONDS`).
   *
   * @since 0.5.0
   */
  readonly rebalanceUncordonAfter?: Duration.Input | undefined
  /**
   * Show what nth does to a node in the node's `TerminationHandling` condition (`@nth/taint-manager`'s
   * `NodeCondition`): `True` with the step as reason (`Cordoned`, `Draining`, `Drained`, `Acknowledged`,
   * `DrainFailed`) while nth works on the node, `False` once it undid its work (`Uncordoned`,
   * `RebalanceCordonLifted`), so that `kubectl describe node` tells what is going on. Needs `patch` on
   * `nodes/status`. A failed write is logged and counted (`events_error_total{event_error_where="node-condition"}`),
   * never fails the event. Default `false` (`ENABLE_NODE_CONDITION`).
   *
   * @since 0.5.0
   */
  readonly nodeCondition?: boolean
  /**
   * Where the handler may find a node instead of reading it (queue mode's node index), to read its
   * `nth.aws/rebalance-action` label when a rebalance recommendation arrives. Default: the node is read.
   *
   * @since 0.5.0
   */
  readonly knownNode?: ((nodeName: string) => V1Node | undefined) | undefined
  /**
   * The steps, given the handler's own ({@link Step.defaults}): return them extended (e.g. with
   * {@link Step.insertAfter}) to add a program's own. Default: the handler's own.
   */
  readonly steps?: (defaults: ReadonlyArray<Step.Step>) => ReadonlyArray<Step.Step>
  /**
   * Told of every event the handler acted on (cordoned, or cordoned and drained, whether that succeeded or not),
   * once per event, as the Go handler posts its webhook: `@nth/webhook`'s `Notifier.notify`. It must return at
   * once (queue what it has to do): the handler waits for it.
   *
   * @since 0.4.0
   */
  readonly notify?: ((acted: Acted) => Effect.Effect<void>) | undefined
}

/**
 * An event the handler acted on, as {@link Options.notify} is told of it.
 *
 * @category models
 * @since 0.4.0
 */
export interface Acted {
  readonly event: InterruptionEvent.InterruptionEvent
  readonly nodeName: string
  /** Whether the cordon (and drain) succeeded. */
  readonly succeeded: boolean
  /** The names of the pods on the node when its drain began, when it was drained. */
  readonly pods?: ReadonlyArray<string> | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------------------------

/**
 * What happened to one event.
 *
 * - `Cordoned`, `Drained`, `Uncordoned`: done; `acknowledgement` says what the source expects now (queue mode
 *   completes the lifecycle action and deletes the message). `Drained.joined`: the drain of another event of the
 *   same node served this one too.
 * - `InProgress`: the same event is being handled now (or was handed over by a stop), or the node is another
 *   handler's for now (`heldBy`, see {@link Options.coordination}; `heldUntil`, when known: when that handler's
 *   claim lapses unless it renews it, the time to ask again): do not acknowledge yet, ask again later.
 * - `AlreadyDone`: handled before (or known from the node's record after a restart): acknowledge again if
 *   needed, do nothing else.
 * - `NodeNotFound`: the event's node is not in the cluster.
 * - `Ignored`: nothing to do, and why (a switched-off kind, a cancellation of something nth did not do, …).
 * - `Failed`: a step failed; `retryable` is false when trying again cannot help (the event names no node, a
 *   drain the rules refuse).
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome =
  | {
      readonly _tag: "Cordoned"
      readonly acknowledgement: NodeAction.Acknowledgement
      readonly cordonedAfterMs: number
    }
  | {
      readonly _tag: "Drained"
      readonly acknowledgement: NodeAction.Acknowledgement
      readonly cordonedAfterMs: number
      readonly drainedAfterMs: number
      readonly joined?: boolean
    }
  | { readonly _tag: "Uncordoned"; readonly acknowledgement: NodeAction.Acknowledgement }
  | { readonly _tag: "InProgress"; readonly heldBy?: string; readonly heldUntil?: Date }
  | { readonly _tag: "AlreadyDone" }
  | { readonly _tag: "NodeNotFound"; readonly nodeName: string }
  | { readonly _tag: "Ignored"; readonly reason: string }
  | { readonly _tag: "Failed"; readonly step: string; readonly error: string; readonly retryable: boolean }

/**
 * Whether the event's work is done (and it can be acknowledged).
 *
 * @category predicates
 * @since 0.2.0
 */
export const isDone = (
  outcome: Outcome
): outcome is Extract<Outcome, { readonly _tag: "Cordoned" | "Drained" | "Uncordoned" }> =>
  outcome._tag === "Cordoned" || outcome._tag === "Drained" || outcome._tag === "Uncordoned"

// ---------------------------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface Service {
  /** Handles one event, which must name its node (`event.nodeName`). */
  readonly handle: (event: InterruptionEvent.InterruptionEvent) => Effect.Effect<Outcome>
  /** What the handler knows of each event: a program's start-up recovery adds to its ignore list. */
  readonly store: EventStore.EventStore
  readonly metrics: Metrics.Registry
  /** The handler's Kubernetes Events (aggregated, rate limited), for a program's own. */
  readonly events: KubeEvents.KubeEvents
  /**
   * For a program's start: when the node's record (as read) shows a rebalance cordon alone, lifts it once its
   * time is up (see {@link Options.rebalanceUncordonAfter}), as the process that cordoned it would have. Nothing
   * when that option is off.
   *
   * @since 0.5.0
   */
  readonly resumeRebalanceLift: (
    nodeName: string,
    record: NodeRecord.NodeRecord | undefined
  ) => Effect.Effect<void>
  /**
   * Sets the node's `TerminationHandling` condition when {@link Options.nodeCondition} is on (nothing otherwise),
   * for a program's own steps (an uncordon after a reboot). Failures are logged and counted.
   *
   * @since 0.5.0
   */
  readonly reportCondition: (nodeName: string, input: NodeCondition.Input) => Effect.Effect<void>
}

/**
 * @category services
 * @since 0.1.0
 */
export class Handler extends Context.Service<Handler, Service>()("@nth/handler/Handler") {}

/** Where a drain must be over: the Spot notice's termination time, the start of a scheduled event's window. */
const deadlineOf = (event: InterruptionEvent.InterruptionEvent): Date | undefined => {
  switch (event.kind) {
    case "SpotInterruptionNotice":
      return event.startTime
    case "ScheduledMaintenance":
      return event.notBefore
    default:
      return undefined
  }
}

const errorText = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

const tagOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : undefined

/** A step that failed: which one, why, and the error itself (to tell a missing node from other failures). */
interface StepFailure {
  readonly step: string
  readonly error: string
  readonly cause: unknown
}

// Failures that trying again cannot cure: the drainer's rules refuse the drain, or a pod can never be evicted.
const permanent: ReadonlySet<string> = new Set(["DrainRefused", "EvictionFailed"])

// Kinds whose Go pre-drain task is their taint: it runs (and is reported) even when TAINT_NODE is off.
const alwaysPreDrained: ReadonlySet<InterruptionEvent.Kind> = new Set([
  "SpotInterruptionNotice",
  "RebalanceRecommendation",
  "HealthScheduledChange",
  "AsgLifecycleTermination",
  "AsgTargetLifecycleState"
])

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: Options,
  metrics: Metrics.Registry = Metrics.make()
): Effect.Effect<Service, never, KubeClient.KubeClient | TaintManager.TaintManager | Drainer.Drainer> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient.KubeClient
    const taints = yield* TaintManager.TaintManager
    const drainer = yield* Drainer.Drainer
    const dryRun = options.dryRun ?? false
    const events = KubeEvents.make(kube, {
      reportingInstance: "",
      ...options.kubernetesEvents,
      enabled: (options.kubernetesEvents?.enabled ?? false) && !dryRun,
      metrics
    })
    const store = EventStore.make({
      retryFailedAfterMs: Duration.toMillis(Duration.fromInputUnsafe(options.retryFailedAfter ?? "5 seconds"))
    })
    // The last outcome of each event, so that a redelivery in the retry delay hears why (a node not found, an event
    // ignored) rather than only "failed" or "done"; as many entries as the store has.
    const lastOutcomes = new Map<string, Outcome>()
    const liftAfterMs =
      options.rebalanceUncordonAfter === undefined || dryRun
        ? 0
        : Duration.toMillis(Duration.fromInputUnsafe(options.rebalanceUncordonAfter))
    const defaults = Step.defaults({
      excludeFromLoadBalancers: options.excludeFromLoadBalancers ?? false,
      outOfServiceTaint: options.outOfServiceTaint ?? false,
      rebalanceLiftAfterMs: liftAfterMs
    })
    const steps = options.steps?.(defaults) ?? defaults
    const ownPod: PodFilter.PodFilter = (pod) =>
      options.ownPod !== undefined &&
      options.ownPod.name !== "" &&
      pod.metadata?.name === options.ownPod.name &&
      (!options.ownPod.namespace || pod.metadata?.namespace === options.ownPod.namespace)
        ? { _tag: "Skip", reason: "Self", message: "nth's own pod" }
        : { _tag: "Remove" }
    const drains = NodeDrains.make({
      drainer,
      events,
      drainOptions: {
        // The cordon step cordoned the node through the taint manager, which records the cordon as nth's.
        cordon: false,
        force: true,
        ignoreDaemonSets: options.drain?.ignoreDaemonSets ?? true,
        deleteEmptyDirData: options.drain?.deleteEmptyDirData ?? true,
        gracePeriodSeconds: options.drain?.gracePeriodSeconds ?? -1,
        timeoutSeconds: options.drain?.timeoutSeconds ?? 120,
        podAnnotations: options.drain?.podAnnotations ?? false,
        dryRun: dryRun ? "client" : "none",
        additionalFilters: [ownPod]
      }
    })

    // Events of this handler on their way to their node's cordon: while there are any, drains wait (at most
    // `cordonFirst`). Measured with 1000 Spot notices in queue mode (one replica, 2 cores shared with the test
    // bed, 4 receivers, before moto's DescribeInstances was fixed): the last cordon came 19.8 s after the start
    // with the drains interleaved, 18.4 s with them waiting.
    const cordonFirstMs = Duration.toMillis(Duration.fromInputUnsafe(options.cordonFirst ?? "5 seconds"))
    let cordoning = 0
    const cordonsDone = Latch.makeUnsafe(true)
    const startCordoning = Effect.sync(() => {
      cordoning += 1
      if (cordoning === 1) cordonsDone.closeUnsafe()
    })
    const doneCordoning = Effect.sync(() => {
      cordoning -= 1
      if (cordoning === 0) cordonsDone.openUnsafe()
    })
    const afterCordons =
      cordonFirstMs <= 0
        ? Effect.void
        : Effect.suspend(() =>
            cordoning === 0
              ? Effect.void
              : cordonsDone.await.pipe(Effect.timeoutOption(Duration.millis(cordonFirstMs)), Effect.asVoid)
          )

    const step = <A, E>(name: string, effect: Effect.Effect<A, E>) =>
      effect.pipe(
        Effect.mapError((error): StepFailure => ({ step: name, error: errorText(error), cause: error })),
        Effect.tap(() => Effect.logDebug(`${name}: done`))
      )

    // The events already told to `options.notify` (the newest 10,000: ids of older ones are long out of any queue).
    const notified = new Set<string>()
    const firstNotice = (id: string): boolean => {
      if (notified.has(id)) return false
      notified.add(id)
      if (notified.size > 10_000) notified.delete(notified.values().next().value as string)
      return true
    }

    // The condition's steps in order: an event joining a drain must not set the node back to `Cordoned`.
    const conditionRank: Partial<Record<NodeCondition.Reason, number>> = {
      Cordoned: 1,
      Draining: 2,
      Drained: 3,
      Acknowledged: 4
    }
    // Kept while events of the node are at work (one may join another's drain), forgotten when the last ends.
    const conditionSet = new Map<string, number>()
    const working = new Map<string, number>()
    const startWorking = (nodeName: string) =>
      Effect.sync(() => {
        working.set(nodeName, (working.get(nodeName) ?? 0) + 1)
      })
    const stopWorking = (nodeName: string) =>
      Effect.sync(() => {
        const left = (working.get(nodeName) ?? 1) - 1
        if (left > 0) return working.set(nodeName, left)
        working.delete(nodeName)
        conditionSet.delete(nodeName)
      })
    const reportCondition: Service["reportCondition"] = (nodeName, input) =>
      Effect.suspend(() => {
        if (options.nodeCondition !== true || dryRun) return Effect.void
        const rank = conditionRank[input.reason]
        const last = conditionSet.get(nodeName)
        if (input.status === "True" && rank !== undefined && last !== undefined && rank < last)
          return Effect.void
        if (input.status === "False" || rank === undefined) conditionSet.delete(nodeName)
        else conditionSet.set(nodeName, rank)
        return writeCondition(nodeName, input)
      })
    // The condition is for people: its write never holds a drain up for long (a Spot notice leaves two minutes).
    const writeCondition = (nodeName: string, input: NodeCondition.Input) =>
      taints.setCondition({ nodeName, ...input }).pipe(
        Effect.timeout("3 seconds"),
        Effect.tap(() => Effect.logDebug(`node condition ${NodeCondition.conditionType}: ${input.reason}`)),
        Effect.catch((error) => {
          metrics.eventErrors.increment({ event_error_where: "node-condition" })
          return Effect.logWarning(
            `setting the node's ${NodeCondition.conditionType} condition (${input.reason}) failed: ${errorText(error)}`
          )
        }),
        Effect.asVoid
      )
    /** The condition's message for an event: its kind (as its Kubernetes Event's reason) and description. */
    const conditionMessage = (event: InterruptionEvent.InterruptionEvent, detail?: string) =>
      `${Reason.received[event.kind]}: ${event.description}${detail === undefined ? "" : ` (${detail})`}`

    const count = (action: string, ok: boolean) =>
      metrics.actions.increment({ node_action: action, node_status: ok ? "success" : "error" })

    /** A failed action, as the Go handler reports it: counted, a Warning Event with its reason, a log line. */
    const reportFailure =
      (nodeName: string, action: string, reason: string, describe: (error: string) => string) =>
      (failure: StepFailure) =>
        Effect.gen(function* () {
          count(action, false)
          // As the Go handler: a cordon that fails because the node is not there is logged without a CordonError.
          const cordoning = action === "cordon" || action === "cordon-and-drain"
          if (!cordoning || tagOf(failure.cause) !== "NodeNotFound")
            yield* events.emit(nodeName, "Warning", reason, describe(failure.error))
          yield* Effect.logError(`${failure.step} failed: ${failure.error}`)
        })

    /**
     * The node's claim (queue mode's replicas, see {@link Options.coordination}), taken by the first node write of
     * the event that claims the node for this handler: one request for the claim, the taint and the cordon.
     */
    interface Claim {
      readonly compute: NodePlan.Compute<NodePlan.Claimed>
      /**
       * The event's outcome when its work must not go on (the node is another handler's, or the record shows the
       * event done): nothing is written then. `undefined`: the claim is written with the first writes.
       */
      readonly decide: (claimed: NodePlan.Claimed) => Outcome | undefined
      /** Told how the claim's write ended (a refusal is a success here: `decide` says it is one). */
      readonly settle: (exit: Exit.Exit<NodePlan.Claimed, StepFailure>) => Effect.Effect<void>
    }

    const claimStep = "claim the node"
    const releaseStep = "give up the claim"

    /**
     * Groups `runs` into what is sent at once: consecutive node writes ({@link Step.Step.write}) make one
     * request, every other step runs on its own. With a claim, it goes with the first group of writes (or alone
     * when the first step is not a write).
     */
    const isWrite = (s: Step.Step) => s.run === undefined && s.write !== undefined

    const groupsOf = (runs: ReadonlyArray<Step.Step>): Array<Array<Step.Step>> => {
      const groups: Array<Array<Step.Step>> = []
      for (const current of runs) {
        const last = groups.at(-1)
        if (isWrite(current) && last?.every(isWrite)) last.push(current)
        else groups.push([current])
      }
      return groups
    }

    /**
     * Runs one group: its step, or its writes (with the claim, if given) as one request; the steps that run
     * `alongside` any of them run in the background meanwhile. The writes' results, `undefined` for a step.
     */
    const runGroup = (
      group: ReadonlyArray<Step.Step>,
      context: Step.Context,
      claim: Claim | undefined,
      release?: NodePlan.Compute<unknown>
    ): Effect.Effect<ReadonlyArray<unknown> | undefined, StepFailure> => {
      const first = group[0]
      const names = [
        ...(claim === undefined ? [] : [claimStep]),
        ...group.map((s) => s.name),
        ...(release === undefined ? [] : [releaseStep])
      ].join(", ")
      const run: Effect.Effect<ReadonlyArray<unknown> | undefined, StepFailure> =
        first?.run !== undefined
          ? step(names, first.run(context)).pipe(Effect.as(undefined))
          : step(
              names,
              taints.apply({
                nodeName: context.nodeName,
                operation: names,
                compute: NodePlan.sequence(
                  [
                    ...(claim === undefined ? [] : [claim.compute]),
                    ...group.map((s) => s.write?.(context) ?? NodePlan.sequence([])),
                    ...(release === undefined ? [] : [release])
                  ],
                  {
                    accept: (result, index) =>
                      claim === undefined ||
                      index > 0 ||
                      claim.decide(result as NodePlan.Claimed) === undefined
                  }
                )
              })
            ).pipe(Effect.map((outcome) => outcome.result))
      const companions = steps.filter(
        (s) =>
          s.alongside !== undefined &&
          group.some((g) => g.name === s.alongside) &&
          (s.appliesTo?.(context) ?? true)
      )
      if (companions.length === 0) return run
      return Effect.gen(function* () {
        const background = yield* Effect.forEach(companions, (companion) =>
          Effect.forkChild(
            (companion.run?.(context) ?? Effect.void).pipe(
              Effect.catchCause((cause) =>
                Cause.hasInterruptsOnly(cause)
                  ? Effect.void
                  : Effect.logWarning(`${companion.name} failed: ${Cause.pretty(cause)}`)
              )
            )
          )
        )
        return yield* run.pipe(Effect.ensuring(Fiber.interruptAll(background)))
      })
    }

    // -----------------------------------------------------------------------------------------------------------
    // Acting on an event
    // -----------------------------------------------------------------------------------------------------------

    const act = (
      event: InterruptionEvent.InterruptionEvent,
      nodeName: string,
      action: Extract<NodeAction.NodeAction, { _tag: "Cordon" | "CordonAndDrain" }>,
      seenAt: number,
      claim: Claim | undefined,
      earlier: EarlierDrains,
      holding: Holding | undefined
    ): Effect.Effect<Outcome, StepFailure> => {
      // The event counts among those on their way to a cordon until its cordon phase ends, or its handling does.
      let cordoned = false
      let drained: Step.Drained | undefined
      const finishCordoning = Effect.suspend(() => {
        if (cordoned) return Effect.void
        cordoned = true
        return doneCordoning
      })
      const body = Effect.gen(function* () {
        const eventDeadline = deadlineOf(event)
        const deadline =
          eventDeadline !== undefined && eventDeadline.getTime() > seenAt ? eventDeadline : undefined
        // Whether the node was drained before this event's drain began (another event's drain, perhaps another
        // handler's): known to coordinated handlers only.
        let drainedBefore = false
        const context: Step.Context = {
          event,
          nodeName,
          action,
          seenAt,
          deadline,
          taints,
          events,
          drainNode: () =>
            Effect.gen(function* () {
              yield* afterCordons
              drainedBefore = earlier.drainedEarlier()
              yield* reportCondition(nodeName, {
                status: "True",
                reason: "Draining",
                message: conditionMessage(event, deadline && `to be over by ${deadline.toISOString()}`)
              })
              drained = yield* drains.drain(nodeName, deadline).pipe(
                Effect.tapError((error) =>
                  reportCondition(nodeName, {
                    status: "True",
                    reason: "DrainFailed",
                    message: conditionMessage(event, errorText(error))
                  })
                )
              )
              if (drained._tag === "Ran") earlier.markDrained()
              yield* reportCondition(nodeName, {
                status: "True",
                reason: "Drained",
                message: conditionMessage(
                  event,
                  `${drained.report.pods.filter((pod) => pod.outcome === "Gone").length} pods evicted`
                )
              })
              return drained
            })
        }
        const cordonOnly = action._tag === "Cordon"
        const wanted: ReadonlyArray<Step.Phase> = cordonOnly
          ? ["pre-drain", "cordon", "acknowledge"]
          : Step.phases
        const runs = wanted.flatMap((phase) =>
          steps.filter(
            (s) => s.phase === phase && s.alongside === undefined && (s.appliesTo?.(context) ?? true)
          )
        )
        const grouped = groupsOf(runs)
        // The claim goes with the first writes; when the first step is not a write, it is a write of its own first.
        const groups =
          claim !== undefined && !(grouped[0]?.every(isWrite) ?? false) ? [[], ...grouped] : grouped
        // The group after which each phase is over (-1: before the first, the phase having no step of its own).
        const endOf = (phase: Step.Phase) => {
          const through = Step.phases.slice(0, Step.phases.indexOf(phase) + 1)
          return groups.findLastIndex((group) => group.some((s) => through.includes(s.phase)))
        }
        const preDrainEnd = endOf("pre-drain")
        const cordonEnd = endOf("cordon")
        const drainEnd = endOf("post-drain")
        const acknowledgeEnd = runs.some((s) => s.phase === "acknowledge") ? endOf("acknowledge") : -2
        // The Go handler's pre-drain task, reported as such when the event has one.
        const reportsPreDrain =
          action.taint !== undefined ||
          action.markUncordonAfterReboot ||
          alwaysPreDrained.has(event.kind) ||
          runs.some((s) => s.phase === "pre-drain")

        const announce = events.emit(
          nodeName,
          "Normal",
          Reason.received[event.kind],
          // In IMDS mode a notice is acted on even when IMDS cannot tell the instance id: the node is known.
          event.instanceId === undefined ? `${event.description} (instance id unknown)` : event.description
        )
        let cordonedAfterMs = 0
        let drainedAfterMs = 0
        /** What is reported once the groups through `index` ran. */
        const ended = (index: number) =>
          Effect.gen(function* () {
            if (index === preDrainEnd && reportsPreDrain) {
              count("pre-drain", true)
              yield* events.emit(
                nodeName,
                "Normal",
                Reason.nodeAction.PreDrain,
                "Pre-drain task successfully executed"
              )
            }
            if (index === cordonEnd) {
              yield* reportCondition(nodeName, {
                status: "True",
                reason: "Cordoned",
                message: conditionMessage(event)
              })
              yield* finishCordoning
              cordonedAfterMs = (yield* Clock.currentTimeMillis) - seenAt
              metrics.eventToCordon.observe(cordonedAfterMs / 1000, { kind: event.kind })
              yield* Effect.logInfo("node cordoned").pipe(Effect.annotateLogs({ cordonedAfterMs }))
            }
            if (index === drainEnd && !cordonOnly) {
              drainedAfterMs = (yield* Clock.currentTimeMillis) - seenAt
              metrics.eventToDrained.observe(drainedAfterMs / 1000, { kind: event.kind })
            }
            if (index === acknowledgeEnd) {
              yield* reportCondition(nodeName, {
                status: "True",
                reason: "Acknowledged",
                message: conditionMessage(event, "the lifecycle action is completed")
              })
            }
          })

        /**
         * A failed group, reported as each action it was part of: the pre-drain task when it held a pre-drain step
         * (or came before the task's end), the cordon (and drain) when it held a step of theirs; a node that is
         * gone, as the first of those only. A group that was the claim alone, or a claim on a node that is gone,
         * is logged only (nothing was done on the node).
         */
        const reportGroupFailure = (group: ReadonlyArray<Step.Step>, index: number, withClaim: boolean) => {
          const preDrain =
            group.some((s) => s.phase === "pre-drain") || (group.length > 0 && index <= preDrainEnd)
          const acting = group.some((s) => s.phase !== "pre-drain")
          return (failure: StepFailure) =>
            Effect.gen(function* () {
              if ((!preDrain && !acting) || (withClaim && tagOf(failure.cause) === "NodeNotFound")) {
                return yield* Effect.logError(`${failure.step} failed: ${failure.error}`)
              }
              if (preDrain) {
                yield* reportFailure(
                  nodeName,
                  "pre-drain",
                  Reason.nodeAction.PreDrainError,
                  (error) => `There was a problem executing the pre-drain task: ${error}`
                )(failure)
              }
              // A node that is gone fails the whole write once: reported as its first action only.
              if (!acting || (preDrain && tagOf(failure.cause) === "NodeNotFound")) return
              if (tagOf(failure.cause) === "JoinedDrainFailed") {
                return yield* Effect.logWarning(`the drain this event joined failed: ${failure.error}`)
              }
              yield* reportFailure(
                nodeName,
                cordonOnly ? "cordon" : "cordon-and-drain",
                cordonOnly ? Reason.nodeAction.CordonError : Reason.nodeAction.CordonAndDrainError,
                (error) =>
                  `There was a problem while trying to ${cordonOnly ? "cordon" : "cordon and drain"} the node: ${error}`
              )(failure)
            })
        }

        // A claimed event reports nothing (not even a pre-drain task without steps) before its claim is decided:
        // a refused claim means another handler does the work.
        if (claim === undefined) {
          yield* announce
          yield* ended(-1)
        }
        for (const [index, group] of groups.entries()) {
          const withClaim = index === 0 ? claim : undefined
          const last = index > 0 && index === groups.length - 1 && group.every(isWrite)
          const results = yield* Effect.uninterruptibleMask((restore) =>
            Effect.gen(function* () {
              // The event's last write gives the claim up with it when nothing else of this handler holds the
              // node; if that write fails (or is cut short), the claim is given up on its own.
              const release = last && holding !== undefined ? yield* holding.releaseWithLast : undefined
              return yield* restore(runGroup(group, context, withClaim, release?.compute)).pipe(
                Effect.onExit((exit) =>
                  release === undefined
                    ? Effect.void
                    : Exit.isSuccess(exit)
                      ? release.done
                      : Effect.ensuring(release.alone, release.done)
                ),
                Effect.onExit((exit) =>
                  withClaim === undefined
                    ? Effect.void
                    : withClaim.settle(
                        Exit.isSuccess(exit)
                          ? Exit.succeed(exit.value?.[0] as NodePlan.Claimed)
                          : (exit as Exit.Exit<never, StepFailure>)
                      )
                )
              )
            })
          ).pipe(Effect.tapError(reportGroupFailure(group, index, withClaim !== undefined)))
          if (withClaim !== undefined) {
            const refused = withClaim.decide(results?.[0] as NodePlan.Claimed)
            if (refused !== undefined) return refused
            yield* announce
            yield* ended(-1)
          }
          yield* ended(index)
        }

        if (cordonOnly) {
          count("cordon", true)
          yield* events.emit(nodeName, "Normal", Reason.nodeAction.Cordon, "Node successfully cordoned")
          return { _tag: "Cordoned", acknowledgement: action.acknowledgement, cordonedAfterMs } as const
        }
        const result = {
          _tag: "Drained",
          acknowledgement: action.acknowledgement,
          cordonedAfterMs,
          drainedAfterMs
        } as const
        // Another handler drained the node for another event before this one got it, and nothing was left to
        // remove: served by that drain, as if joined (one CordonAndDrain per node, not one per replica).
        const servedEarlier =
          drainedBefore &&
          drained?._tag === "Ran" &&
          drained.report.pods.every((pod) => pod.outcome === "Skipped")
        if (drained?._tag === "Joined" || servedEarlier) {
          // The event that started the drain counts and reports it; this one is recorded as served by it.
          yield* Effect.logInfo(
            servedEarlier
              ? "node drained already, for another event: nothing left to remove"
              : "node drained by the drain this event joined"
          ).pipe(Effect.annotateLogs({ drainedAfterMs }))
          return { ...result, joined: true }
        }
        count("cordon-and-drain", true)
        yield* events.emit(
          nodeName,
          "Normal",
          Reason.nodeAction.CordonAndDrain,
          "Node successfully cordoned and drained"
        )
        yield* Effect.logInfo("node drained").pipe(
          Effect.annotateLogs({
            drainedAfterMs,
            ...(drained === undefined
              ? {}
              : { pods: drained.report.pods.length, apiRequests: drained.report.apiRequests })
          })
        )
        return result
      })
      const notify = options.notify
      const acting = Effect.acquireUseRelease(
        Effect.andThen(startCordoning, startWorking(nodeName)),
        () => body,
        () => Effect.andThen(finishCordoning, stopWorking(nodeName))
      )
      if (notify === undefined) return acting
      const tell = (succeeded: boolean) =>
        notify({
          event,
          nodeName,
          succeeded,
          pods: drained?.report.pods.map((pod) => pod.name)
        })
      return acting.pipe(
        Effect.tap((outcome) =>
          // Once per event: a retried failure, or a redelivered event already told of, is not told again.
          (outcome._tag === "Cordoned" || outcome._tag === "Drained") && firstNotice(event.id)
            ? tell(true)
            : Effect.void
        ),
        Effect.tapError((failure) =>
          tagOf(failure.cause) !== "NodeNotFound" && firstNotice(event.id) ? tell(false) : Effect.void
        )
      )
    }

    /**
     * A cancelled or completed scheduled event: undo what nth did for it, only when nothing else holds the node.
     * The store knows this process's events; the node's record also knows those of earlier processes (a Spot
     * drain finished before a restart is only on the ignore list here, and must not be undone by an old
     * cancellation still listed in IMDS). No record of this event: nth did nothing for it, so nothing is undone
     * or reported.
     */
    const undo = (event: InterruptionEvent.InterruptionEvent, nodeName: string) =>
      Effect.gen(function* () {
        if (store.activeFor(nodeName, event.id)) {
          return { _tag: "Ignored", reason: "another interruption event is active" } as const
        }
        const { record } = yield* step("read the node's record", taints.readRecord({ nodeName }))
        const recorded = record?.events.map((recordedEvent) => recordedEvent.id) ?? []
        if (!recorded.includes(event.id)) {
          yield* Effect.logInfo("nth did nothing on the node for this event: nothing to undo")
          return { _tag: "Ignored", reason: "nth did not act on this event" } as const
        }
        const others = recorded.filter((id) => id !== event.id)
        if (others.length > 0) {
          yield* Effect.logInfo("the node's record holds another interruption event: not undoing").pipe(
            Effect.annotateLogs({ otherEvents: others.join(",") })
          )
          return { _tag: "Ignored", reason: "another interruption event is recorded on the node" } as const
        }
        const cleared = yield* step("uncordon", taints.clear({ nodeName, uncordon: true }))
        count("uncordon", true)
        yield* reportCondition(nodeName, {
          status: "False",
          reason: "Uncordoned",
          message: conditionMessage(event, "nth's cordon, taints and labels removed")
        })
        yield* events.emit(nodeName, "Normal", Reason.nodeAction.Uncordon, "Node successfully uncordoned")
        yield* Effect.logInfo("nth's work on the node undone").pipe(
          Effect.annotateLogs({ cleared: JSON.stringify(cleared) })
        )
        return { _tag: "Uncordoned", acknowledgement: "None" } as const
      }).pipe(
        Effect.tapError(
          reportFailure(
            nodeName,
            "uncordon",
            Reason.nodeAction.UncordonError,
            (error) => `There was a problem while trying to uncordon the node: ${error}`
          )
        )
      )

    // -----------------------------------------------------------------------------------------------------------
    // Coordination: one handler at a time on a node (queue mode's replicas)
    // -----------------------------------------------------------------------------------------------------------

    const coordination =
      options.coordination === undefined
        ? undefined
        : {
            holder: options.coordination.holder,
            leaseMs: Duration.toMillis(Duration.fromInputUnsafe(options.coordination.lease ?? "30 seconds"))
          }

    const noEarlierDrains = { drainedEarlier: () => false, markDrained: () => {} }

    /** Whether the node's record shows this event's work done (see `NodeRecord.isDoneFor`). */
    const doneIn = (
      record: NodeRecord.NodeRecord | undefined,
      event: InterruptionEvent.InterruptionEvent,
      action: Extract<NodeAction.NodeAction, { _tag: "Cordon" | "CordonAndDrain" }>
    ) =>
      record !== undefined &&
      NodeRecord.isDoneFor(record, event.id, action._tag === "Cordon" ? "cordon" : "drain")

    /**
     * What an event's drain learns of drains before it, to tell a drain that found nothing left to remove (another
     * event's drain did the work: reported as joined) from a drain of its own.
     */
    interface EarlierDrains {
      /** Whether the node was drained before (the record said so when the event got the node, or an event of this
       * handler drained it since). */
      readonly drainedEarlier: () => boolean
      readonly markDrained: () => void
    }

    /** This handler's hold on the node, as an event working under it sees it. */
    interface Holding {
      /**
       * When no other event of this handler works on the node: the claim's release, to send with the event's last
       * write (the claim is then given up: a new event of the node waits for `done`, run once that write ended).
       * `undefined`: the claim is given up apart, when the last event ends.
       */
      readonly releaseWithLast: Effect.Effect<
        | {
            readonly compute: NodePlan.Compute<unknown>
            /** Gives the claim up on its own (the last write failed); failures are logged. */
            readonly alone: Effect.Effect<void>
            readonly done: Effect.Effect<void>
          }
        | undefined
      >
    }

    /** The claim could not be taken: another handler holds the node. */
    interface HeldElsewhere {
      readonly _tag: "HeldElsewhere"
      readonly holder: string
      readonly eventId: string | undefined
      readonly until: Date
    }

    /**
     * This handler's claims, one per node however many of its events work on the node at once (they share it: the
     * drain under way is joined, not raced). The first event claims the node in its record with its first writes
     * and starts the renewals; the last one to finish gives the claim up.
     */
    interface Hold {
      users: number
      /**
       * How the claim ended: the node's record as the claim found it, and whether the claim was written (not when
       * the claiming event found itself done already); or why it was not taken.
       */
      readonly taken: Deferred.Deferred<
        { readonly record: NodeRecord.NodeRecord | undefined; readonly written: boolean },
        StepFailure | HeldElsewhere
      >
      renewal: Fiber.Fiber<unknown> | undefined
      /** The record showed the node drained when the claim was taken. */
      recordedDrain: boolean
      /** The claim was written (and not refused, nor found needless). */
      written: boolean
      /** One of the events holding the node drained it. */
      drained: boolean
      /** Completed with the other handler's name when the claim is lost to it. */
      readonly lost: Deferred.Deferred<string>
      /** The claim's write failed in a way that does not rule out its having landed. */
      mayHaveLanded: boolean
    }
    const holds = new Map<string, Hold>()

    /**
     * Renews `holder`'s claim. A claim lost (not renewed in time, and another handler took it) stops the renewals
     * and, through `hold.lost`, the work of this handler's events on the node: the other handler acts there now.
     */
    const renewClaim = (nodeName: string, holder: string, leaseMs: number, hold: Hold) =>
      taints.claim({ nodeName, holder, leaseMs }).pipe(
        Effect.flatMap((renewed) =>
          renewed.result._tag === "Claimed"
            ? Effect.void
            : Effect.gen(function* () {
                const other =
                  renewed.result._tag === "HeldElsewhere" ? renewed.result.holder : "another handler"
                metrics.claimsLost.increment()
                // New events of the node start afresh (and find it held by the other handler).
                if (holds.get(nodeName) === hold) holds.delete(nodeName)
                yield* Effect.logError(
                  `the node's claim was lost to ${other} (not renewed in time): stopping the work on the node, which that handler now does`
                )
                yield* Deferred.succeed(hold.lost, other)
                return yield* Effect.interrupt
              })
        ),
        Effect.catch((error) => Effect.logWarning(`renewing the node's claim failed: ${errorText(error)}`))
      )

    /** The claim that `event`, the first of this handler's on the node, takes with its first writes. */
    const claimFor = (
      event: InterruptionEvent.InterruptionEvent,
      nodeName: string,
      action: Extract<NodeAction.NodeAction, { _tag: "Cordon" | "CordonAndDrain" }>,
      hold: Hold,
      holder: string,
      leaseMs: number
    ): Claim => {
      const decide = (claimed: NodePlan.Claimed): Outcome | undefined =>
        claimed._tag === "HeldElsewhere"
          ? { _tag: "InProgress", heldBy: claimed.holder, heldUntil: claimed.until }
          : doneIn(claimed.record, event, action)
            ? { _tag: "AlreadyDone" }
            : undefined
      return {
        compute: (node, now) =>
          NodePlan.claim(node, { holder, event: { id: event.id, kind: event.kind }, leaseMs }, now),
        decide,
        settle: (exit) =>
          Effect.gen(function* () {
            if (!Exit.isSuccess(exit)) {
              // A write cut short, or failed in a way that does not say it was refused, may have landed: the claim
              // is then given up when the event ends, like a claim taken (a release only removes this holder's).
              const failure = Cause.findErrorOption(exit.cause)
              const refused =
                failure._tag === "Some" &&
                ["NodeNotFound", "NodeConflict"].includes(tagOf(failure.value.cause) ?? "")
              hold.mayHaveLanded = !refused
              yield* Deferred.failCause(hold.taken, exit.cause)
              return
            }
            const claimed = exit.value
            if (claimed._tag === "HeldElsewhere") {
              if (holds.get(nodeName) === hold) holds.delete(nodeName)
              yield* Effect.logInfo(
                `the node is being handled by ${claimed.holder} (event ${claimed.eventId ?? "unknown"}): waiting`
              ).pipe(Effect.annotateLogs({ claimUntil: claimed.until.toISOString() }))
              yield* Deferred.fail(hold.taken, claimed)
              return
            }
            const written = decide(claimed) === undefined
            if (!written) {
              yield* Effect.logInfo(
                "the node's record shows this event handled already (by another replica?)"
              )
            } else {
              hold.recordedDrain = claimed.record?.drain?.finishedAt !== undefined
              hold.written = true
              hold.renewal = yield* Effect.forkDetach(
                Effect.repeat(
                  Effect.delay(renewClaim(nodeName, holder, leaseMs, hold), Duration.millis(leaseMs / 3)),
                  Schedule.forever
                )
              )
            }
            yield* Deferred.succeed(hold.taken, { record: claimed.record, written })
          })
      }
    }

    // Nodes whose claim is being given up: a new event of the node waits for that write, or the release (by holder)
    // could remove the claim the new event has just taken.
    const releasing = new Map<string, Deferred.Deferred<void>>()

    /** Gives `holder`'s claim on the node up (nothing when another holds it); a failure is logged, it expires. */
    const giveUpClaim = (nodeName: string, holder: string) =>
      Effect.suspend(() => taints.releaseClaim({ nodeName, holder })).pipe(
        Effect.catch((error) =>
          Effect.logWarning(`giving up the node's claim failed (it expires on its own): ${errorText(error)}`)
        ),
        Effect.asVoid
      )

    const releaseHold = (nodeName: string, hold: Hold, claimer: boolean) =>
      Effect.gen(function* () {
        hold.users -= 1
        // However the claiming event's handling ended, the events waiting for its claim hear of it (a no-op when
        // the claim's write told them).
        if (claimer) {
          yield* Deferred.fail(hold.taken, {
            step: claimStep,
            error: "the event that was claiming the node stopped before its claim was written",
            cause: undefined
          })
        }
        if (hold.users > 0 || holds.get(nodeName) !== hold || coordination === undefined) return
        holds.delete(nodeName)
        const released = Deferred.makeUnsafe<void>()
        releasing.set(nodeName, released)
        const taken = yield* Effect.exit(Deferred.await(hold.taken))
        if (hold.renewal !== undefined) yield* Fiber.interrupt(hold.renewal)
        if ((Exit.isSuccess(taken) && taken.value.written) || hold.mayHaveLanded) {
          yield* giveUpClaim(nodeName, coordination.holder)
        }
        releasing.delete(nodeName)
        yield* Deferred.succeed(released, undefined)
      }).pipe(Effect.uninterruptible)

    /**
     * Runs `work` holding the node's claim. The first of this handler's events on the node gets the claim to take
     * with its first writes (the work then returns `InProgress` when the node is another's, `AlreadyDone` when
     * the record shows the event done, by another handler or before a restart); the others wait for it and check
     * the record themselves. The claim is renewed alongside and given up once no event of this handler works on
     * the node (a stop hands the node over at once; a killed process's claim expires).
     */
    const claimed = (
      event: InterruptionEvent.InterruptionEvent,
      nodeName: string,
      action: Extract<NodeAction.NodeAction, { _tag: "Cordon" | "CordonAndDrain" }>,
      work: (
        claim: Claim | undefined,
        drains: EarlierDrains,
        holding: Holding | undefined
      ) => Effect.Effect<Outcome, StepFailure>
    ): Effect.Effect<Outcome, StepFailure> => {
      if (coordination === undefined) return work(undefined, noEarlierDrains, undefined)
      const { holder, leaseMs } = coordination
      return Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          for (
            let pending = releasing.get(nodeName);
            pending !== undefined;
            pending = releasing.get(nodeName)
          ) {
            yield* restore(Deferred.await(pending))
          }
          const existing = holds.get(nodeName)
          const hold: Hold = existing ?? {
            users: 0,
            taken: Deferred.makeUnsafe(),
            renewal: undefined,
            recordedDrain: false,
            written: false,
            drained: false,
            lost: Deferred.makeUnsafe(),
            mayHaveLanded: false
          }
          if (existing === undefined) holds.set(nodeName, hold)
          hold.users += 1
          const earlier: EarlierDrains = {
            drainedEarlier: () => hold.recordedDrain || hold.drained,
            markDrained: () => {
              hold.drained = true
            }
          }
          const holding: Holding = {
            releaseWithLast: Effect.uninterruptible(
              Effect.gen(function* () {
                if (hold.users > 1 || !hold.written || holds.get(nodeName) !== hold) return undefined
                // From here the hold is being given up, as releaseHold does (which then has nothing left to do).
                holds.delete(nodeName)
                const released = Deferred.makeUnsafe<void>()
                releasing.set(nodeName, released)
                if (hold.renewal !== undefined) yield* Fiber.interrupt(hold.renewal)
                hold.renewal = undefined
                return {
                  compute: (node: V1Node, now: Date) => NodePlan.releaseClaim(node, { holder }, now),
                  alone: giveUpClaim(nodeName, holder),
                  done: Effect.suspend(() => {
                    if (releasing.get(nodeName) === released) releasing.delete(nodeName)
                    return Deferred.succeed(released, undefined)
                  })
                }
              })
            )
          }
          const stopOnLoss = <E>(effect: Effect.Effect<Outcome, E>) =>
            Effect.raceFirst(
              effect,
              Effect.map(
                Deferred.await(hold.lost),
                (other): Outcome => ({ _tag: "InProgress", heldBy: other })
              )
            )
          return yield* restore(
            Effect.gen(function* () {
              if (existing === undefined) {
                return yield* stopOnLoss(
                  work(claimFor(event, nodeName, action, hold, holder, leaseMs), earlier, holding)
                )
              }
              const taken = yield* Effect.exit(Deferred.await(hold.taken))
              if (!Exit.isSuccess(taken)) {
                const failure = Cause.findErrorOption(taken.cause)
                if (
                  failure._tag === "Some" &&
                  "_tag" in failure.value &&
                  failure.value._tag === "HeldElsewhere"
                ) {
                  return {
                    _tag: "InProgress",
                    heldBy: failure.value.holder,
                    heldUntil: failure.value.until
                  } as const
                }
                return yield* Effect.failCause(taken.cause as Cause.Cause<StepFailure>)
              }
              // The claiming event found itself done and wrote no claim: this one asks again later.
              if (!taken.value.written) return { _tag: "InProgress" } as const
              const { record } = yield* step("read the node's record", taints.readRecord({ nodeName }))
              if (doneIn(record, event, action)) {
                yield* Effect.logInfo(
                  "the node's record shows this event handled already (by another replica?)"
                )
                return { _tag: "AlreadyDone" } as const
              }
              return yield* stopOnLoss(work(undefined, earlier, holding))
            })
          ).pipe(Effect.ensuring(releaseHold(nodeName, hold, existing === undefined)))
        })
      )
    }

    // -----------------------------------------------------------------------------------------------------------
    // Rebalance recommendations: the node's own choice, and the cordon that lifts itself
    // -----------------------------------------------------------------------------------------------------------

    /** The node, from `options.knownNode` when it has it, else read (retried when the API server falters). */
    const readNode = (
      nodeName: string
    ): Effect.Effect<V1Node, KubeError.KubeError | TaintManager.NodeNotFound> => {
      const known = options.knownNode?.(nodeName)
      if (known !== undefined) return Effect.succeed(known)
      return kube
        .call(`read node ${nodeName}`, (o) => kube.core.readNode({ name: nodeName }, o))
        .pipe(
          Effect.retry({
            schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered),
            times: 4,
            while: KubeError.isTransient
          }),
          Effect.catchIf(
            (error) => error.reason === "NotFound",
            (error) => Effect.fail(new TaintManager.NodeNotFound({ nodeName, message: error.message }))
          )
        )
    }

    /**
     * What the node says of a rebalance recommendation: `Lifted` when nth lifted this very recommendation's cordon
     * already (IMDS lists it until the instance ends), else its `nth.aws/rebalance-action` choice. A value that is
     * none of the known ones is reported (Warning Event, `events_error_total{event_error_where="node-label"}`, a
     * log line) and the settings apply.
     */
    const rebalanceChoiceFor = (event: InterruptionEvent.InterruptionEvent, nodeName: string) =>
      Effect.gen(function* () {
        const node = yield* step("read the node's labels", readNode(nodeName))
        if (NodeRecord.read(node).record?.rebalanceCordonLifted?.eventId === event.id)
          return "Lifted" as const
        const asked = NodeAction.rebalanceChoiceOf(node.metadata?.labels)
        if (asked._tag === "Choice") {
          yield* Effect.logInfo(
            `the node's ${NodeAction.rebalanceActionLabel} label asks for ${asked.choice}`
          )
          return { rebalance: asked.choice }
        }
        if (asked._tag === "Unknown") {
          metrics.eventErrors.increment({ event_error_where: "node-label" })
          const message = NodeAction.unknownRebalanceChoice(asked.value)
          yield* Effect.logWarning(message)
          yield* events.emit(nodeName, "Warning", Reason.nodeAction.InvalidNodeLabel, message)
        }
        return {}
      })

    // One lift waiting per node: a newer cordon's lift replaces an older one's.
    const lifts = new Map<string, Fiber.Fiber<void>>()

    /** Lifts the node's rebalance cordon now if the record allows; looks again later when its time is not up. */
    const liftNow = (nodeName: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        // The record knows what other handlers and earlier processes did; this process may be at work right now, or
        // about to try again an interruption that failed before it reached the record: any other event keeps it.
        const otherEvent = () =>
          store.activeFor(nodeName, undefined, { exceptKinds: ["RebalanceRecommendation"], anyState: true })
        if (otherEvent()) {
          return yield* Effect.logInfo("rebalance cordon kept: another event of the node came")
        }
        const { result } = yield* taints.apply({
          nodeName,
          operation: "lift the rebalance cordon",
          compute: (node, now) => NodePlan.liftRebalanceCordon(node, { holder: coordination?.holder }, now)
        })
        if (result._tag === "NotYet") return yield* scheduleLift(nodeName, result.at.getTime())
        if (result._tag === "Kept") return yield* Effect.logInfo(`rebalance cordon kept: ${result.reason}`)
        count("uncordon", true)
        const message = `Rebalance recommendation's cordon lifted: no interruption followed within ${liftAfterMs / 1000} s`
        yield* events.emit(nodeName, "Normal", Reason.nodeAction.Uncordon, message)
        // An event that came meanwhile (and cordoned the node again) reports the node's condition from now on.
        if (!otherEvent()) {
          yield* reportCondition(nodeName, { status: "False", reason: "RebalanceCordonLifted", message })
        }
        yield* Effect.logInfo(message).pipe(
          Effect.annotateLogs({ events: result.eventIds.join(","), cordon: result.cleared.cordon })
        )
      }).pipe(
        Effect.tapError((error) =>
          Effect.logWarning(`lifting the rebalance cordon failed, trying again: ${errorText(error)}`)
        ),
        Effect.retry({
          schedule: Schedule.exponential("1 second").pipe(Schedule.jittered),
          times: 5,
          while: (error) => error._tag !== "NodeNotFound"
        }),
        Effect.catch((error) =>
          Effect.gen(function* () {
            count("uncordon", false)
            yield* events.emit(
              nodeName,
              "Warning",
              Reason.nodeAction.UncordonError,
              `There was a problem while trying to lift the rebalance cordon: ${errorText(error)}`
            )
            yield* Effect.logError(`lifting the rebalance cordon failed: ${errorText(error)}`)
          })
        ),
        Effect.annotateLogs({ node: nodeName })
      )

    /** Lifts the node's rebalance cordon at `atMs` (epoch ms), replacing a lift already waiting for the node. */
    const scheduleLift = (nodeName: string, atMs: number): Effect.Effect<void> =>
      Effect.gen(function* () {
        const earlier = lifts.get(nodeName)
        if (earlier !== undefined) yield* Fiber.interrupt(earlier)
        const now = yield* Clock.currentTimeMillis
        const fiber = yield* Effect.forkDetach(
          Effect.sleep(Duration.millis(Math.max(0, atMs - now))).pipe(
            Effect.andThen(Effect.sync(() => lifts.delete(nodeName))),
            Effect.andThen(liftNow(nodeName))
          )
        )
        lifts.set(nodeName, fiber)
      })

    const resumeRebalanceLift: Service["resumeRebalanceLift"] = (nodeName, record) => {
      const due = record?.rebalanceLiftAt
      if (liftAfterMs <= 0 || record === undefined || due === undefined || record.drain !== undefined)
        return Effect.void
      if (record.events.some((e) => e.kind !== "RebalanceRecommendation")) return Effect.void
      return Effect.andThen(
        Effect.logInfo(
          "the node's record shows a rebalance cordon alone: it is lifted when its time is up"
        ).pipe(Effect.annotateLogs({ node: nodeName, liftAt: due.at.toISOString() })),
        scheduleLift(nodeName, due.at.getTime())
      )
    }

    const handleNew = (event: InterruptionEvent.InterruptionEvent, nodeName: string, seenAt: number) =>
      Effect.gen(function* () {
        // Counted once per event, not once per retry of a failed handling.
        if (store.attemptsOf(event) <= 1) metrics.eventsReceived.increment({ kind: event.kind })
        const choices =
          event.kind === "RebalanceRecommendation" ? yield* rebalanceChoiceFor(event, nodeName) : {}
        if (choices === "Lifted") {
          metrics.eventsIgnored.increment({ kind: event.kind })
          yield* Effect.logDebug("event ignored: its cordon was lifted already")
          return { _tag: "Ignored", reason: "the recommendation's cordon was lifted already" } as const
        }
        const action = NodeAction.decide(event, options.actions, choices)
        if (action._tag === "Ignore") {
          metrics.eventsIgnored.increment({ kind: event.kind })
          yield* Effect.logDebug(`event ignored: ${action.reason}`)
          return { _tag: "Ignored", reason: action.reason } as const
        }
        if (action._tag === "AwaitNodeReady") {
          return { _tag: "Ignored", reason: "launch lifecycle hooks are handled in queue mode" } as const
        }
        if (action._tag === "Uncordon") {
          yield* Effect.logInfo(`${event.kind} received: ${event.description}`)
          return yield* undo(event, nodeName)
        }
        yield* Effect.logInfo(`${event.kind} received: ${event.description}`)
        const outcome = yield* claimed(event, nodeName, action, (claim, earlier, holding) =>
          act(event, nodeName, action, seenAt, claim, earlier, holding)
        )
        if (outcome._tag === "Cordoned" && event.kind === "RebalanceRecommendation" && liftAfterMs > 0) {
          yield* scheduleLift(nodeName, (yield* Clock.currentTimeMillis) + liftAfterMs)
        }
        return outcome
      }).pipe(
        Effect.catch((failure: StepFailure) =>
          Effect.succeed<Outcome>(
            tagOf(failure.cause) === "NodeNotFound"
              ? { _tag: "NodeNotFound", nodeName }
              : {
                  _tag: "Failed",
                  step: failure.step,
                  error: failure.error,
                  retryable: !permanent.has(tagOf(failure.cause) ?? "")
                }
          )
        )
      )

    // However the handling ends, the event leaves InProgress: a defect is a failure like any other (tried again
    // later), an interruption (shutdown) is left to the next process, which resumes from the node's record.
    const settledState = (exit: Exit.Exit<Outcome>): Exclude<EventStore.State, "InProgress"> =>
      Exit.isSuccess(exit)
        ? exit.value._tag === "InProgress"
          ? "Deferred"
          : exit.value._tag === "Failed" || exit.value._tag === "NodeNotFound"
            ? "Failed"
            : exit.value._tag === "Ignored"
              ? "Ignored"
              : "Done"
        : Cause.hasInterruptsOnly(exit.cause)
          ? "Interrupted"
          : "Failed"

    const handle: Service["handle"] = (event) =>
      Effect.gen(function* () {
        const nodeName = event.nodeName
        if (nodeName === undefined) {
          yield* Effect.logError("event refused: it names no node").pipe(
            Effect.annotateLogs({ eventId: event.id, kind: event.kind })
          )
          return {
            _tag: "Failed",
            step: "find the node",
            error: "the event names no node",
            retryable: false
          } as const
        }
        const now = yield* Clock.currentTimeMillis
        if (store.offer(event, now) === "seen") {
          const state = store.stateOf(event)
          const last = lastOutcomes.get(EventStore.keyOf(event))
          if (state === "InProgress" || state === "Interrupted") return { _tag: "InProgress" } as const
          if (
            (state === "Failed" && last?._tag === "NodeNotFound") ||
            (state === "Ignored" && last?._tag === "Ignored")
          )
            return last
          if (state === "Failed")
            return {
              _tag: "Failed",
              step: "an earlier attempt",
              error: "the last attempt failed; it is tried again after the retry delay",
              retryable: true
            } as const
          return { _tag: "AlreadyDone" } as const
        }
        return yield* handleNew(event, nodeName, store.firstSeenAt(event) ?? now).pipe(
          Effect.onExit((exit) =>
            Effect.flatMap(Clock.currentTimeMillis, (settledAt) =>
              Effect.sync(() => {
                store.settle(event, settledState(exit), settledAt)
                if (Exit.isSuccess(exit)) lastOutcomes.set(EventStore.keyOf(event), exit.value)
              })
            )
          ),
          Effect.catchDefect((defect) =>
            Effect.as(Effect.logError(`handling the event failed unexpectedly: ${errorText(defect)}`), {
              _tag: "Failed",
              step: "unexpected",
              error: errorText(defect),
              retryable: true
            } as const)
          ),
          Effect.annotateLogs({
            eventId: event.id,
            kind: event.kind,
            node: nodeName,
            instance: event.instanceId ?? "unknown"
          })
        )
      })

    const service = Handler.of({ handle, store, metrics, events, resumeRebalanceLift, reportCondition })
    stoppers.set(
      service,
      Effect.suspend(() => Fiber.interruptAll([...lifts.values()]))
    )
    return service
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options,
  metrics?: Metrics.Registry
): Layer.Layer<Handler, never, KubeClient.KubeClient | TaintManager.TaintManager | Drainer.Drainer> =>
  Layer.effect(
    Handler,
    // The lifts waiting stop with the layer (the next process takes them over from the nodes' records).
    Effect.acquireRelease(make(options, metrics), (service) => stoppers.get(service) ?? Effect.void)
  )

// What stops a handler's background work (the rebalance lifts waiting), kept beside the service rather than in it.
const stoppers = new WeakMap<Service, Effect.Effect<void>>()
