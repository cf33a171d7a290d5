/**
 * From event to node action, shared by the DaemonSet (IMDS mode) and Deployment (queue mode) apps.
 *
 * Each new event goes through an ordered list of steps, each one idempotent, so that a restarted nth (or a
 * retried event) does again only what is not done yet:
 *
 *   received → (taint) → (mark for uncordon after reboot) → (exclude from load balancers) → cordon
 *            → (record drain started → drain → record drained → out-of-service taint)
 *
 * What each kind calls for comes from `NodeAction.decide`. Every step is logged, counted in the Go handler's
 * metrics, and (with EMIT_KUBERNETES_EVENTS) reported as a Kubernetes Event on the Node with the Go handler's
 * reasons. A failed step fails the event; the event store lets it be tried again on a later poll.
 *
 * @since 0.1.0
 */
import { Drainer, type PodFilter } from "@nth/drainer"
import { type InterruptionEvent, NodeAction, Reason } from "@nth/events"
import { KubeClient } from "@nth/kube"
import { NodeRecord, TaintManager } from "@nth/taint-manager"
import { Clock, Context, Effect, Layer, Semaphore } from "effect"
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
  | { readonly _tag: "Drained"; readonly cordonedAfterMs: number; readonly drainedAfterMs: number }
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
   * and remembers the events already dealt with so they are not handled again.
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
    const drainer = yield* Drainer.Drainer
    const store = EventStore.make({ retryFailedAfterMs: 5000 })
    const actionSettings = toActionSettings(settings)
    const workers = yield* Semaphore.make(Math.max(1, settings.workers))
    const events = KubeEvents.make(kube, settings)

    const ownPod: PodFilter.PodFilter = (pod) =>
      settings.podName !== "" &&
      pod.metadata?.name === settings.podName &&
      (settings.podNamespace === "" || pod.metadata?.namespace === settings.podNamespace)
        ? { _tag: "Skip", reason: "Self", message: "nth's own pod" }
        : { _tag: "Remove" }

    const step = <A, E>(name: string, effect: Effect.Effect<A, E>) =>
      effect.pipe(
        Effect.mapError((error) => ({ step: name, error: errorText(error) })),
        Effect.tap(() => Effect.logDebug(`${name}: done`))
      )

    const count = (action: string, ok: boolean) =>
      metrics.increment("actions_total", { node_action: action, node_status: ok ? "success" : "error" })

    const act = (
      event: InterruptionEvent.InterruptionEvent,
      nodeName: string,
      action: Extract<NodeAction.NodeAction, { _tag: "Cordon" | "CordonAndDrain" }>,
      seenAt: number
    ) =>
      Effect.gen(function* () {
        const services = yield* Effect.context<never>()
        const ref = { id: event.id, kind: event.kind }
        const target = { nodeName, event: ref }
        if (action.taint) yield* step("taint", taints.addTaint({ ...target, taint: action.taint }))
        if (action.markUncordonAfterReboot)
          yield* step("mark uncordon after reboot", taints.markUncordonAfterReboot(target))
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
        const deadline = deadlineOf(event)
        const report = yield* step(
          "drain",
          drainer.drain(nodeName, {
            force: true,
            ignoreDaemonSets: settings.ignoreDaemonSets,
            deleteEmptyDirData: settings.deleteLocalData,
            gracePeriodSeconds: settings.podTerminationGracePeriod,
            timeoutSeconds: settings.nodeTerminationGracePeriod,
            ...(deadline !== undefined && deadline.getTime() > seenAt ? { deadline } : {}),
            dryRun: settings.dryRun ? "client" : "none",
            additionalFilters: [ownPod],
            onProgress: (progress) => {
              if (
                progress._tag === "PodEvicted" ||
                progress._tag === "PodBlocked" ||
                progress._tag === "PodGone"
              ) {
                // With the caller's services, so the line goes through the program's logger and level.
                Effect.runForkWith(services)(
                  Effect.logInfo(progress._tag).pipe(
                    Effect.annotateLogs({ pod: `${progress.pod.namespace}/${progress.pod.name}` })
                  )
                )
              }
            }
          })
        )
        yield* step("record drained", taints.recordDrained(target))
        if (settings.enableOutOfServiceTaint && !settings.cordonOnly) {
          yield* step(
            "out-of-service taint",
            taints.addTaint({ ...target, taint: NodeRecord.outOfServiceTaint })
          )
        }
        const drainedAfterMs = (yield* Clock.currentTimeMillis) - seenAt
        metrics.observe("nth_event_to_drained_seconds", drainedAfterMs / 1000, { kind: event.kind })
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

    const handleNew = (event: InterruptionEvent.InterruptionEvent, seenAt: number) =>
      Effect.gen(function* () {
        const nodeName = event.nodeName ?? settings.nodeName
        const action = NodeAction.decide(event, actionSettings)
        metrics.increment("nth_events_received_total", { kind: event.kind })
        if (action._tag === "Ignore") {
          metrics.increment("nth_events_ignored_total", { kind: event.kind })
          yield* Effect.logDebug(`event ignored: ${action.reason}`)
          return { _tag: "Ignored", reason: action.reason } as const
        }
        if (action._tag === "AwaitNodeReady") {
          return { _tag: "Ignored", reason: "launch lifecycle hooks are handled in queue mode" } as const
        }
        yield* Effect.logInfo(`${event.kind} received: ${event.description}`)
        if (action._tag === "Uncordon") {
          // Undo only what nth did, and only when no other event still holds the node.
          if (store.activeFor(nodeName, event.id)) {
            return { _tag: "Ignored", reason: "another interruption event is active" } as const
          }
          const cleared = yield* step("uncordon", taints.clear({ nodeName, uncordon: true })).pipe(
            Effect.tapError(() => Effect.sync(() => count("uncordon", false)))
          )
          count("uncordon", true)
          yield* events.emit(nodeName, "Normal", Reason.nodeAction.Uncordon, "Node successfully uncordoned")
          yield* Effect.logInfo("nth's work on the node undone").pipe(
            Effect.annotateLogs({ cleared: JSON.stringify(cleared) })
          )
          return { _tag: "Uncordoned" } as const
        }
        yield* events.emit(nodeName, "Normal", Reason.received[event.kind], event.description)
        return yield* act(event, nodeName, action, seenAt).pipe(
          Effect.tapError(({ step: failed, error }) =>
            Effect.gen(function* () {
              count(action._tag === "Cordon" ? "cordon" : "cordon-and-drain", false)
              const reason =
                action._tag === "Cordon"
                  ? Reason.nodeAction.CordonError
                  : Reason.nodeAction.CordonAndDrainError
              yield* events.emit(
                nodeName,
                "Warning",
                reason,
                `There was a problem while trying to ${action._tag === "Cordon" ? "cordon" : "cordon and drain"} the node: ${error}`
              )
              yield* Effect.logError(`${failed} failed: ${error}`)
            })
          )
        )
      }).pipe(
        Effect.catch((failure: { step: string; error: string }) =>
          Effect.succeed({ _tag: "Failed", step: failure.step, error: failure.error } as const)
        ),
        Effect.annotateLogs({
          eventId: event.id,
          kind: event.kind,
          node: event.nodeName ?? settings.nodeName
        })
      )

    const handle: Service["handle"] = (event) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        if (store.offer(event, now) === "seen") return { _tag: "Duplicate" } as const
        const outcome = yield* Semaphore.withPermit(workers)(
          handleNew(event, store.firstSeenAt(event) ?? now)
        )
        const settledAt = yield* Clock.currentTimeMillis
        store.settle(
          event,
          outcome._tag === "Failed" ? "Failed" : outcome._tag === "Ignored" ? "Ignored" : "Done",
          settledAt
        )
        return outcome
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

    const recover: Service["recover"] = ({ uptimeSeconds }) =>
      Effect.gen(function* () {
        const nodeName = settings.nodeName
        if (uptimeSeconds !== undefined && settings.enableScheduledEventDraining && !settings.dryRun) {
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
        // Events this node's record says nth finished draining for are done: a restarted nth does not drain for
        // them again. (A drain that started but did not finish is resumed when its event is seen again.)
        const { record } = yield* taints.readRecord({ nodeName })
        if (record?.drain?.finishedAt !== undefined)
          for (const recorded of record.events) store.ignore(recorded.id)
      }).pipe(
        Effect.catch((error) => Effect.logWarning(`start-up recovery skipped: ${errorText(error)}`)),
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
