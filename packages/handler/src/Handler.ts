/**
 * From event to node action, shared by the DaemonSet (IMDS mode) and Deployment (queue mode) apps.
 *
 * Each new event goes through an ordered list of steps, each one idempotent, so that a restarted nth (or a
 * retried event) does again only what is not done yet:
 *
 *   received → pre-drain [(taint) → (mark for uncordon after reboot)] → (exclude from load balancers) → cordon
 *            → (record drain started → drain → record drained → out-of-service taint)
 *
 * What each kind calls for comes from `NodeAction.decide`. Every step is logged, counted in the Go handler's
 * metrics (`pre-drain`, `cordon`, `cordon-and-drain`, `uncordon`), and (with EMIT_KUBERNETES_EVENTS) reported as
 * a Kubernetes Event with the Go handler's reasons and messages, one `PodEviction` per evicted pod included. A
 * failed step fails the event (a failed pre-drain task too, as the Go handler since v1.25.6); the event store
 * lets it be tried again on a later poll.
 *
 * A cancelled or completed scheduled event undoes nth's work only when the node's own record says nth acted on
 * that event and on no other: the in-memory store forgets across restarts, the record does not.
 *
 * @since 0.1.0
 */
import { Deadline, Drainer, type DrainReport, type PodFilter } from "@nth/drainer"
import { type InterruptionEvent, NodeAction, Reason } from "@nth/events"
import { KubeClient } from "@nth/kube"
import { NodeRecord, TaintManager } from "@nth/taint-manager"
import { Cause, Clock, Context, Deferred, Effect, Exit, Fiber, Layer, Schedule, Semaphore } from "effect"
import * as EventStore from "./EventStore.ts"
import * as KubeEvents from "./KubeEvents.ts"
import type * as Metrics from "./Metrics.ts"
import { type Settings, toActionSettings } from "./Settings.ts"

/**
 * What happened to one event.
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome =
  | { readonly _tag: "Duplicate" }
  | { readonly _tag: "Ignored"; readonly reason: string }
  | { readonly _tag: "Cordoned"; readonly cordonedAfterMs: number }
  | {
      readonly _tag: "Drained"
      readonly cordonedAfterMs: number
      readonly drainedAfterMs: number
      /** The event joined a drain another event of the same node had started: one drain served both. */
      readonly joined?: boolean
    }
  | { readonly _tag: "Uncordoned" }
  | { readonly _tag: "Failed"; readonly step: string; readonly error: string }

/**
 * @category models
 * @since 0.1.0
 */
export interface Service {
  /** Handles one event (a duplicate is recognised and left alone). */
  readonly handle: (event: InterruptionEvent.InterruptionEvent) => Effect.Effect<Outcome>
  /** Reports a failed poll of a monitor (metric, log line, Kubernetes Event). */
  readonly monitorFailed: (monitor: string, error: { readonly message: string }) => Effect.Effect<void>
  /**
   * At start-up in IMDS mode: undoes nth's work on this node if it came back from the reboot it was drained for,
   * and remembers the events already dealt with so they are not handled again. Tried up to 4 times, 2 s apart
   * (the Go handler retries for 8 s), then given up with a warning and `nth_startup_recovery_failures_total`.
   * `uptimeSeconds` undefined (unknown) never uncordons.
   */
  readonly recover: (options: { readonly uptimeSeconds: number | undefined }) => Effect.Effect<void>
  readonly store: EventStore.EventStore
  readonly metrics: Metrics.Registry
}

/**
 * @category services
 * @since 0.1.0
 */
export class Handler extends Context.Service<Handler, Service>()("@nth/handler/Handler") {}

/**
 * Where a drain must be over: the Spot notice's termination time, the start of a scheduled event's window.
 */
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

/** A step that failed: which one, and why. */
interface StepFailure {
  readonly step: string
  readonly error: string
}

/** The step name of an event that joined another event's drain: that event reports the drain's failure. */
const joinedDrain = "joined drain"

/**
 * The drain running on a node. A second event for the node joins it instead of starting another (which would
 * evict every pod a second time): its deadline, if earlier, moves the drain's deadline, and it ends with the
 * drain's result.
 */
interface DrainEnd {
  /** `Ran`: this event's drain; `Joined`: the drain of another event of the node. */
  readonly _tag: "Ran" | "Joined"
  readonly report: DrainReport.DrainReport
}

interface NodeDrain {
  readonly deadline: Deadline.Deadline
  readonly result: Deferred.Deferred<DrainReport.DrainReport, StepFailure>
}

// Kinds whose Go pre-drain task is their taint: it runs (and is reported) even when TAINT_NODE is off.
const alwaysPreDrained: ReadonlySet<InterruptionEvent.Kind> = new Set([
  "SpotInterruptionNotice",
  "RebalanceRecommendation",
  "HealthScheduledChange",
  "AsgLifecycleTermination",
  "AsgTargetLifecycleState"
])

/**
 * Whether the event has a pre-drain task, as the Go handler: the kind's taint (scheduled events: only with a
 * restart code), and the uncordon-after-reboot mark.
 */
const hasPreDrainTask = (
  event: InterruptionEvent.InterruptionEvent,
  action: Extract<NodeAction.NodeAction, { _tag: "Cordon" | "CordonAndDrain" }>
): boolean => action.taint !== undefined || action.markUncordonAfterReboot || alwaysPreDrained.has(event.kind)

/** How long start-up recovery keeps trying: 4 tries, 2 s apart (the Go handler: every 2 s for up to 8 s). */
const recoveryRetry = { schedule: Schedule.spaced("2 seconds"), times: 3 } as const

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  settings: Settings,
  metrics: Metrics.Registry
): Effect.Effect<Service, never, KubeClient.KubeClient | TaintManager.TaintManager | Drainer.Drainer> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient.KubeClient
    const taints = yield* TaintManager.TaintManager
    const events = KubeEvents.make(kube, settings, { metrics })
    const drainer = yield* Drainer.Drainer
    const store = EventStore.make({ retryFailedAfterMs: 5000 })
    const actionSettings = toActionSettings(settings)
    const workers = yield* Semaphore.make(Math.max(1, settings.workers))
    const drains = new Map<string, NodeDrain>()

    const ownPod: PodFilter.PodFilter = (pod) =>
      settings.podName !== "" &&
      pod.metadata?.name === settings.podName &&
      (settings.podNamespace === "" || pod.metadata?.namespace === settings.podNamespace)
        ? { _tag: "Skip", reason: "Self", message: "nth's own pod" }
        : { _tag: "Remove" }

    const step = <A, E>(name: string, effect: Effect.Effect<A, E>) =>
      effect.pipe(
        Effect.mapError((error): StepFailure => ({ step: name, error: errorText(error) })),
        Effect.tap(() => Effect.logDebug(`${name}: done`))
      )

    const count = (action: string, ok: boolean) =>
      metrics.increment("actions_total", { node_action: action, node_status: ok ? "success" : "error" })

    /** A failed action, as the Go handler reports it: counted, a Warning Event with its reason, a log line. */
    const reportFailure =
      (nodeName: string, action: string, reason: string, describe: (error: string) => string) =>
      ({ step: failed, error }: StepFailure) =>
        Effect.gen(function* () {
          count(action, false)
          yield* events.emit(nodeName, "Warning", reason, describe(error))
          yield* Effect.logError(`${failed} failed: ${error}`)
        })

    /** The Go handler's pre-drain task: the steps that mark the node before it is cordoned. */
    const preDrain = (
      event: InterruptionEvent.InterruptionEvent,
      nodeName: string,
      action: Extract<NodeAction.NodeAction, { _tag: "Cordon" | "CordonAndDrain" }>
    ) =>
      Effect.gen(function* () {
        const target = { nodeName, event: { id: event.id, kind: event.kind } }
        if (action.taint) yield* step("taint", taints.addTaint({ ...target, taint: action.taint }))
        if (action.markUncordonAfterReboot)
          yield* step("mark uncordon after reboot", taints.markUncordonAfterReboot(target))
      }).pipe(
        Effect.tap(() =>
          Effect.gen(function* () {
            count("pre-drain", true)
            yield* events.emit(
              nodeName,
              "Normal",
              Reason.nodeAction.PreDrain,
              "Pre-drain task successfully executed"
            )
          })
        ),
        Effect.tapError(
          reportFailure(
            nodeName,
            "pre-drain",
            Reason.nodeAction.PreDrainError,
            (error) => `There was a problem executing the pre-drain task: ${error}`
          )
        )
      )

    /** Drains the node for `event`, under `owned`'s deadline (which events that join may move earlier). */
    const runDrain = (nodeName: string, owned: NodeDrain): Effect.Effect<DrainEnd, StepFailure> =>
      Effect.gen(function* () {
        const services = yield* Effect.context<never>()
        // Progress arrives in a plain callback: its log lines and Events run with the caller's services (so they
        // go through the program's logger and level), and the drain step ends once the Events are sent.
        const sending: Array<Fiber.Fiber<void>> = []
        const report = yield* step(
          "drain",
          drainer
            .drain(nodeName, {
              // Cordoned above, through the taint manager, which records the cordon as nth's.
              cordon: false,
              force: true,
              ignoreDaemonSets: settings.ignoreDaemonSets,
              deleteEmptyDirData: settings.deleteLocalData,
              gracePeriodSeconds: settings.podTerminationGracePeriod,
              timeoutSeconds: settings.nodeTerminationGracePeriod,
              deadline: owned.deadline,
              dryRun: settings.dryRun ? "client" : "none",
              additionalFilters: [ownPod],
              onProgress: (progress) => {
                if (
                  progress._tag === "PodEvicted" ||
                  progress._tag === "PodEvictedAgain" ||
                  progress._tag === "PodBlocked" ||
                  progress._tag === "PodGone"
                ) {
                  Effect.runForkWith(services)(
                    Effect.logInfo(progress._tag).pipe(
                      Effect.annotateLogs({ pod: `${progress.pod.namespace}/${progress.pod.name}` })
                    )
                  )
                }
                // The Go handler reports each evicted pod with an Event on the pod.
                if (progress._tag === "PodEvicted" || progress._tag === "PodDeleted") {
                  const { pod } = progress
                  sending.push(
                    Effect.runForkWith(services)(
                      events.emitFor(
                        { kind: "Pod", name: pod.name, namespace: pod.namespace, uid: pod.uid },
                        "Normal",
                        Reason.nodeAction.PodEviction,
                        `Pod evicted due to node drain (node ${nodeName})`,
                        { node: nodeName }
                      )
                    )
                  )
                }
              }
            })
            .pipe(Effect.ensuring(Effect.suspend(() => Fiber.awaitAll(sending))))
        )
        return { _tag: "Ran", report }
      })

    /** Waits for the drain under way on the node, first moving its deadline earlier if `deadline` is. */
    const joinDrain = (
      running: NodeDrain,
      deadline: Date | undefined
    ): Effect.Effect<DrainEnd, StepFailure> =>
      Effect.gen(function* () {
        const before = running.deadline.current()
        const moved = deadline !== undefined && running.deadline.moveEarlier(deadline)
        yield* Effect.logInfo("a drain is already under way on the node: this event joins it").pipe(
          Effect.annotateLogs(
            moved
              ? { deadlineMovedTo: deadline.toISOString(), deadlineWas: before?.toISOString() ?? "none" }
              : {}
          )
        )
        const report = yield* Deferred.await(running.result).pipe(
          Effect.mapError((failure): StepFailure => ({ step: joinedDrain, error: failure.error }))
        )
        return { _tag: "Joined", report }
      })

    const act = (
      event: InterruptionEvent.InterruptionEvent,
      nodeName: string,
      action: Extract<NodeAction.NodeAction, { _tag: "Cordon" | "CordonAndDrain" }>,
      seenAt: number
    ) =>
      Effect.gen(function* () {
        const ref = { id: event.id, kind: event.kind }
        const target = { nodeName, event: ref }
        if (settings.excludeFromLoadBalancers)
          yield* step("exclude from load balancers", taints.excludeFromLoadBalancers(target))
        yield* step("cordon", taints.cordon(target))
        const cordonedAfterMs = (yield* Clock.currentTimeMillis) - seenAt
        metrics.observe("nth_event_to_cordon_seconds", cordonedAfterMs / 1000, { kind: event.kind })
        yield* Effect.logInfo("node cordoned").pipe(Effect.annotateLogs({ cordonedAfterMs }))
        if (action._tag === "Cordon") {
          count("cordon", true)
          yield* events.emit(nodeName, "Normal", Reason.nodeAction.Cordon, "Node successfully cordoned")
          return { _tag: "Cordoned", cordonedAfterMs } as const
        }
        yield* step("record drain started", taints.recordDrainStarted(target))
        const eventDeadline = deadlineOf(event)
        const deadline =
          eventDeadline !== undefined && eventDeadline.getTime() > seenAt ? eventDeadline : undefined
        // Looked up and claimed in one synchronous step, so that two events arriving together cannot both start a
        // drain; from the claim on, the drain's end is always published (and the claim released), however it ends.
        const drain = yield* Effect.uninterruptibleMask((restore): Effect.Effect<DrainEnd, StepFailure> => {
          const running = drains.get(nodeName)
          if (running !== undefined) return restore(joinDrain(running, deadline))
          const owned: NodeDrain = { deadline: Deadline.make(deadline), result: Deferred.makeUnsafe() }
          drains.set(nodeName, owned)
          return restore(runDrain(nodeName, owned)).pipe(
            Effect.onExit((exit) =>
              Effect.sync(() => {
                drains.delete(nodeName)
              }).pipe(
                Effect.andThen(
                  Deferred.done(
                    owned.result,
                    Exit.map(exit, (ran) => ran.report)
                  )
                )
              )
            )
          )
        })
        yield* step("record drained", taints.recordDrained(target))
        if (settings.enableOutOfServiceTaint && !settings.cordonOnly) {
          yield* step(
            "out-of-service taint",
            taints.addTaint({ ...target, taint: NodeRecord.outOfServiceTaint })
          )
        }
        const drainedAfterMs = (yield* Clock.currentTimeMillis) - seenAt
        metrics.observe("nth_event_to_drained_seconds", drainedAfterMs / 1000, { kind: event.kind })
        if (drain._tag === "Joined") {
          // The event that started the drain counts it and reports it; this one is only recorded as served.
          yield* Effect.logInfo("node drained by the drain this event joined").pipe(
            Effect.annotateLogs({ drainedAfterMs })
          )
          return { _tag: "Drained", cordonedAfterMs, drainedAfterMs, joined: true } as const
        }
        const report = drain.report
        count("cordon-and-drain", true)
        yield* events.emit(
          nodeName,
          "Normal",
          Reason.nodeAction.CordonAndDrain,
          "Node successfully cordoned and drained"
        )
        yield* Effect.logInfo("node drained").pipe(
          Effect.annotateLogs({ drainedAfterMs, pods: report.pods.length, apiRequests: report.apiRequests })
        )
        return { _tag: "Drained", cordonedAfterMs, drainedAfterMs } as const
      })

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
        yield* events.emit(nodeName, "Normal", Reason.nodeAction.Uncordon, "Node successfully uncordoned")
        yield* Effect.logInfo("nth's work on the node undone").pipe(
          Effect.annotateLogs({ cleared: JSON.stringify(cleared) })
        )
        return { _tag: "Uncordoned" } as const
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

    const handleNew = (event: InterruptionEvent.InterruptionEvent, seenAt: number) =>
      Effect.gen(function* () {
        const nodeName = event.nodeName ?? settings.nodeName
        const action = NodeAction.decide(event, actionSettings)
        // Counted once per event, not once per retry of a failed handling.
        if (store.attemptsOf(event) <= 1) metrics.increment("nth_events_received_total", { kind: event.kind })
        if (action._tag === "Ignore") {
          metrics.increment("nth_events_ignored_total", { kind: event.kind })
          yield* Effect.logDebug(`event ignored: ${action.reason}`)
          return { _tag: "Ignored", reason: action.reason } as const
        }
        if (action._tag === "AwaitNodeReady") {
          return { _tag: "Ignored", reason: "launch lifecycle hooks are handled in queue mode" } as const
        }
        yield* Effect.logInfo(`${event.kind} received: ${event.description}`)
        if (action._tag === "Uncordon") return yield* undo(event, nodeName)
        // In IMDS mode a notice is acted on even when IMDS cannot tell the instance id: the node is known.
        yield* events.emit(
          nodeName,
          "Normal",
          Reason.received[event.kind],
          event.instanceId === undefined ? `${event.description} (instance id unknown)` : event.description
        )
        if (hasPreDrainTask(event, action)) yield* preDrain(event, nodeName, action)
        const cordonOnly = action._tag === "Cordon"
        return yield* act(event, nodeName, action, seenAt).pipe(
          Effect.tapError((failure) =>
            failure.step === joinedDrain
              ? Effect.logWarning(`the drain this event joined failed: ${failure.error}`)
              : reportFailure(
                  nodeName,
                  cordonOnly ? "cordon" : "cordon-and-drain",
                  cordonOnly ? Reason.nodeAction.CordonError : Reason.nodeAction.CordonAndDrainError,
                  (error) =>
                    `There was a problem while trying to ${cordonOnly ? "cordon" : "cordon and drain"} the node: ${error}`
                )(failure)
          )
        )
      }).pipe(
        Effect.catch((failure: StepFailure) =>
          Effect.succeed({ _tag: "Failed", step: failure.step, error: failure.error } as const)
        ),
        Effect.annotateLogs({
          eventId: event.id,
          kind: event.kind,
          node: event.nodeName ?? settings.nodeName,
          instance: event.instanceId ?? "unknown"
        })
      )

    // However the handling ends, the event leaves InProgress: a defect is a failure like any other (tried again
    // later), an interruption (shutdown) is left to the next process, which resumes from the node's record.
    const settledState = (exit: Exit.Exit<Outcome>): Exclude<EventStore.State, "InProgress"> =>
      Exit.isSuccess(exit)
        ? exit.value._tag === "Failed"
          ? "Failed"
          : exit.value._tag === "Ignored"
            ? "Ignored"
            : "Done"
        : Cause.hasInterruptsOnly(exit.cause)
          ? "Interrupted"
          : "Failed"

    const handle: Service["handle"] = (event) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        if (store.offer(event, now) === "seen") return { _tag: "Duplicate" } as const
        return yield* Semaphore.withPermit(workers)(handleNew(event, store.firstSeenAt(event) ?? now)).pipe(
          Effect.onExit((exit) =>
            Effect.flatMap(Clock.currentTimeMillis, (settledAt) =>
              Effect.sync(() => store.settle(event, settledState(exit), settledAt))
            )
          ),
          Effect.catchDefect((defect) =>
            Effect.as(
              Effect.logError(`handling the event failed unexpectedly: ${errorText(defect)}`).pipe(
                Effect.annotateLogs({ eventId: event.id, kind: event.kind })
              ),
              { _tag: "Failed", step: "unexpected", error: errorText(defect) } as const
            )
          )
        )
      })

    const monitorFailed: Service["monitorFailed"] = (monitor, error) =>
      Effect.gen(function* () {
        metrics.increment("events_error_total", { event_error_where: monitor })
        yield* Effect.logWarning(`monitor ${monitor} failed: ${error.message}`)
        yield* events.emit(
          settings.nodeName,
          "Warning",
          Reason.nodeAction.MonitorError,
          `There was a problem monitoring for events in monitor '${monitor}'`
        )
      })

    const recoverOnce = (uptimeSeconds: number | undefined) =>
      Effect.gen(function* () {
        const nodeName = settings.nodeName
        if (settings.enableScheduledEventDraining && !settings.dryRun) {
          if (uptimeSeconds === undefined) {
            yield* Effect.logWarning(
              "the node's uptime is unknown (UPTIME_FROM_FILE or /proc/uptime unreadable): not checking for a reboot, so no uncordon after reboot"
            )
          } else {
            const checked = yield* taints.uncordonAfterReboot({ nodeName, uptimeSeconds })
            const result = checked.result
            if (result._tag !== "NotMarked") {
              // Whether or not the node rebooted, the scheduled event it was marked for is dealt with: if IMDS
              // still lists it, it must not drain the node again (the Go handler's ignore list).
              store.ignore(result.eventId)
              yield* Effect.logInfo(
                result._tag === "Rebooted"
                  ? "back from the scheduled reboot: nth's cordon, taints and labels removed"
                  : "marked for uncordon after reboot, but no reboot happened yet"
              ).pipe(Effect.annotateLogs({ eventId: result.eventId }))
              if (result._tag === "Rebooted") {
                count("uncordon", true)
                yield* events.emit(
                  nodeName,
                  "Normal",
                  Reason.nodeAction.Uncordon,
                  "Node successfully uncordoned"
                )
              }
            }
          }
        }
        // Events this node's record says nth finished draining for are done: a restarted nth does not drain for
        // them again. (A drain that started but did not finish is resumed when its event is seen again.)
        const { record } = yield* taints.readRecord({ nodeName })
        if (record?.drain?.finishedAt !== undefined)
          for (const recorded of record.events) store.ignore(recorded.id)
      })

    const recover: Service["recover"] = ({ uptimeSeconds }) =>
      recoverOnce(uptimeSeconds).pipe(
        Effect.tapError((error) =>
          Effect.logInfo(`start-up recovery failed, trying again: ${errorText(error)}`)
        ),
        Effect.retry(recoveryRetry),
        Effect.catch((error) =>
          Effect.gen(function* () {
            metrics.increment("nth_startup_recovery_failures_total")
            yield* Effect.logWarning(
              `start-up recovery given up after ${recoveryRetry.times + 1} tries: ${errorText(error)}`
            )
          })
        ),
        Effect.annotateLogs({ node: settings.nodeName })
      )

    return Handler.of({ handle, monitorFailed, recover, store, metrics })
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  settings: Settings,
  metrics: Metrics.Registry
): Layer.Layer<Handler, never, KubeClient.KubeClient | TaintManager.TaintManager | Drainer.Drainer> =>
  Layer.effect(Handler, make(settings, metrics))
