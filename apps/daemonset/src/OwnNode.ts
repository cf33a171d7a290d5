/**
 * What only the IMDS-mode program does, for the node it runs on: start-up recovery (uncordon after a scheduled
 * reboot, and remembering the events the node's record says are done) and reporting failed IMDS polls. The queue
 * program handles other nodes and has neither.
 */
import { NodeAction, Reason } from "@nth/events"
import { Handler } from "@nth/handler"
import { ImdsClient } from "@nth/imds-monitor"
import { KubeClient } from "@nth/kube"
import { NodeRecord, TaintManager } from "@nth/taint-manager"
import type { WebhookData } from "@nth/webhook"
import { Effect, Schedule } from "effect"

/** How long start-up recovery keeps trying: 4 tries, 2 s apart (the Go handler: every 2 s for up to 8 s). */
const recoveryRetry = { schedule: Schedule.spaced("2 seconds"), times: 3 } as const

const errorText = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

export interface RecoverOptions {
  readonly nodeName: string
  /**
   * Seconds since boot, read at each try (a try in the background may come minutes after the start, and an uptime
   * read then would take a node that has not rebooted yet for one that has); `undefined` (unknown) never uncordons.
   */
  readonly uptimeSeconds: () => number | undefined
  /** `ENABLE_SCHEDULED_EVENT_DRAINING`: the uncordon after reboot belongs to it, as in the Go handler. */
  readonly enableScheduledEventDraining: boolean
  readonly dryRun: boolean
}

const recoverOnce = (options: RecoverOptions) =>
  Effect.gen(function* () {
    const handler = yield* Handler.Handler
    const taints = yield* TaintManager.TaintManager
    const { nodeName } = options
    if (options.enableScheduledEventDraining && !options.dryRun) {
      const uptimeSeconds = options.uptimeSeconds()
      if (uptimeSeconds === undefined) {
        yield* Effect.logWarning(
          "the node's uptime is unknown (UPTIME_FROM_FILE or /proc/uptime unreadable): not checking for a reboot, so no uncordon after reboot"
        )
      } else {
        const { result } = yield* taints.uncordonAfterReboot({
          nodeName,
          uptimeSeconds
        })
        if (result._tag !== "NotMarked") {
          // Back from the reboot, the scheduled event is over: if IMDS still lists it, it must not drain the node
          // again. Not rebooted yet, it is still coming, and the record below says whether its drain finished.
          // (The Go handler ignores it in both cases, so a restart between its cordon and the end of its drain left
          // the node cordoned with its pods on it until the reboot: found by the IMDS chaos test.)
          if (result._tag === "Rebooted") handler.store.ignore(result.eventId)
          yield* Effect.logInfo(
            result._tag === "Rebooted"
              ? "back from the scheduled reboot: nth's cordon, taints and labels removed"
              : "marked for uncordon after reboot, but no reboot happened yet"
          ).pipe(Effect.annotateLogs({ eventId: result.eventId }))
          if (result._tag === "Rebooted") {
            handler.metrics.actions.increment({ node_action: "uncordon", node_status: "success" })
            yield* handler.reportCondition(nodeName, {
              status: "False",
              reason: "Uncordoned",
              message: "Back from the scheduled reboot: nth's cordon, taints and labels removed"
            })
            yield* handler.events.emit(
              nodeName,
              "Normal",
              Reason.nodeAction.Uncordon,
              "Node successfully uncordoned"
            )
          }
        }
      }
    }
    // Events this node's record says nth finished draining for are done: a restarted nth does not drain for them
    // again. (A drain that started but did not finish, or finished before the event came, is resumed when its
    // event is seen again.)
    const { record } = yield* taints.readRecord({ nodeName })
    if (record !== undefined)
      for (const recorded of record.events)
        if (NodeRecord.isDoneFor(record, recorded.id, "drain")) handler.store.ignore(recorded.id)
    // A rebalance cordon the previous process was waiting to lift is lifted by this one.
    yield* handler.resumeRebalanceLift(nodeName, record)
  })

/**
 * At start-up: undoes nth's work on this node if it came back from the reboot it was drained for, and remembers
 * the events already dealt with so they are not handled again. Tried up to 4 times, 2 s apart, then given up
 * with a warning and `nth_startup_recovery_failures_total` (polling starts either way: a notice must not wait for
 * the API server). Succeeds with whether the recovery was done.
 */
export const recover = (
  options: RecoverOptions
): Effect.Effect<boolean, never, Handler.Handler | TaintManager.TaintManager> =>
  recoverOnce(options).pipe(
    Effect.tapError((error) => Effect.logInfo(`start-up recovery failed, trying again: ${errorText(error)}`)),
    Effect.retry(recoveryRetry),
    Effect.as(true),
    Effect.catch((error) =>
      Effect.gen(function* () {
        const handler = yield* Handler.Handler
        handler.metrics.startupRecoveryFailures.increment()
        yield* Effect.logWarning(
          `start-up recovery given up after ${recoveryRetry.times + 1} tries, trying again in the background: ${errorText(error)}`
        )
        return false
      })
    ),
    Effect.annotateLogs({ node: options.nodeName })
  )

/**
 * A start-up recovery that gave up, tried again until it is done (every 2 s growing to 30 s): an API server down
 * at start delays the uncordon after a reboot instead of losing it. `onFailure` hears each failed try.
 */
export const recoverInBackground = (
  options: RecoverOptions,
  onFailure: (message: string) => void
): Effect.Effect<void, never, Handler.Handler | TaintManager.TaintManager> =>
  recoverOnce(options).pipe(
    Effect.tapError((error) => Effect.sync(() => onFailure(errorText(error)))),
    Effect.retry(Schedule.min([Schedule.exponential("2 seconds"), Schedule.spaced("30 seconds")])),
    Effect.andThen(Effect.logInfo("start-up recovery done")),
    Effect.ignore, // the schedule never ends: no error comes out of the retry
    Effect.annotateLogs({ node: options.nodeName })
  )

/**
 * Whether this node's `nth.aws/rebalance-action` label asks for a cordon or a drain on a rebalance recommendation,
 * which then has to be polled though no rebalance setting asks for it (the label overrides the settings for its
 * node; labels come with the node group, so the node's labels at start are the ones that count). When the node
 * cannot be read, recommendations are polled and the handler reads the label for each one.
 */
export const labelAsksForRebalance = (
  nodeName: string
): Effect.Effect<boolean, never, KubeClient.KubeClient | Handler.Handler> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient.KubeClient
    const node = yield* kube
      .call(`read node ${nodeName}`, (o) => kube.core.readNode({ name: nodeName }, o))
      .pipe(Effect.timeout("5 seconds"), Effect.option)
    if (node._tag === "None") {
      yield* Effect.logInfo(
        `the node could not be read for its ${NodeAction.rebalanceActionLabel} label: polling rebalance recommendations, the label is read when one comes`
      )
      return true
    }
    const asked = NodeAction.rebalanceChoiceOf(node.value.metadata?.labels)
    if (asked._tag === "Unknown") {
      // Said at start: with no rebalance setting, no recommendation is polled to say it later.
      const handler = yield* Handler.Handler
      const message = NodeAction.unknownRebalanceChoice(asked.value)
      handler.metrics.eventErrors.increment({ event_error_where: "node-label" })
      yield* Effect.logWarning(message)
      yield* handler.events.emit(nodeName, "Warning", Reason.nodeAction.InvalidNodeLabel, message)
    }
    return asked._tag === "Choice" && asked.choice !== "ignore"
  })

/**
 * A failed poll of a monitor: counted (`events_error_total`), logged, and a `MonitorError` Event on this node
 * (aggregated and rate limited by the handler's Events).
 */
export const reportMonitorFailure = (
  nodeName: string,
  monitor: string,
  error: { readonly message: string }
): Effect.Effect<void, never, Handler.Handler> =>
  Effect.gen(function* () {
    const handler = yield* Handler.Handler
    handler.metrics.eventErrors.increment({ event_error_where: monitor })
    yield* Effect.logWarning(`monitor ${monitor} failed: ${error.message}`)
    yield* handler.events.emit(
      nodeName,
      "Warning",
      Reason.nodeAction.MonitorError,
      `There was a problem monitoring for events in monitor '${monitor}'`
    )
  })

/**
 * Logs the instance's identity once IMDS gives it. Polling does not wait for it (slow IMDS answers delayed the
 * first poll by ~20 s) and notices are acted on without it; it is read in the background, retried with a
 * growing delay up to a minute, until it comes.
 */
export const logIdentity: Effect.Effect<void, never, ImdsClient.ImdsClient> = Effect.gen(function* () {
  const imds = yield* ImdsClient.ImdsClient
  yield* imds.identity.pipe(
    Effect.tapError((error) =>
      Effect.logWarning(`instance identity unavailable, retrying: ${error.message}`)
    ),
    Effect.retry(Schedule.min([Schedule.exponential("1 second"), Schedule.spaced("1 minute")])),
    Effect.tap((identity) =>
      Effect.logInfo("instance identity read").pipe(Effect.annotateLogs({ instance: identity.instanceId }))
    ),
    Effect.ignore
  )
})

/** The instance as webhook templates see it, from IMDS (the Go handler's start-up metadata). */
export const webhookInstance = (identity: ImdsClient.NodeIdentity): WebhookData.Instance => ({
  accountId: identity.accountId,
  instanceId: identity.instanceId,
  instanceType: identity.instanceType,
  instanceLifeCycle: identity.instanceLifeCycle,
  availabilityZone: identity.availabilityZone,
  region: identity.region,
  localHostname: identity.localHostname,
  localIp: identity.localIpv4,
  publicHostname: identity.publicHostname,
  publicIp: identity.publicIpv4
})
