/**
 * What only the queue-mode program does: settling each message of the queue by what became of its events, the
 * launch lifecycle hook (complete once the node is Ready), and the handler steps of a termination lifecycle hook
 * (heartbeats during the drain, completing the action after it). The IMDS program has none of these.
 *
 * A message is always settled, and never in a hot loop: deleted (`complete`) once its work is done or there is
 * none, made visible again later (`release`, a delay growing with its receive count) when trying again may help,
 * `poison` when it cannot be read or trying again cannot help.
 */
import { hostname } from "node:os"
import type { InterruptionEvent } from "@nth/events"
import { Handler, type Metrics, Step } from "@nth/handler"
import { InstanceInfo, Intake, Lifecycle, NodeIndex, QueueMessage } from "@nth/queue-monitor"
import type { WebhookData } from "@nth/webhook"
import { Clock, Duration, Effect, Result } from "effect"

/**
 * How many long polls the intake keeps in flight for `workers` workers: one per 75 workers, at least 4 (the
 * intake's default) and at most 16. Each receive brings at most 10 messages, so with many workers (a burst as
 * large as the cluster) 4 receivers starve them: measured with 1000 Spot notices waiting and WORKERS=1000 on the
 * 2-core test bed, the last message was received after 10.3 s with 4 receivers and 5.9 s with 12 (the last node
 * cordoned after 14.2 s and 8.9 s); with the 14 this gives for 1000, 5.9 s and 7.6 s. An idle receiver costs one
 * ReceiveMessage per 20 s long poll.
 */
export const receiversFor = (workers: number): number => Math.min(16, Math.max(4, Math.ceil(workers / 75)))

/**
 * Receives after which a message whose node is not found is deleted (without DELETE_SQS_MSG_IF_NODE_NOT_FOUND):
 * the intake's `maxReceivesBeforeDrop`, which main.ts gives it.
 */
export const maxReceivesBeforeDrop = 5

/** How often a message whose event is being handled by another message's work is looked at again. */
const inProgressRecheck = Duration.seconds(2)
/** How long a message whose event stays in progress is held before it is released (a stop hands events over). */
const inProgressLimit = Duration.minutes(30)
/** How long a message whose node another replica holds is held before it is released, to come back later. */
const heldElsewhereLimit = Duration.seconds(10)

/**
 * When a message whose node another replica holds comes back: just after that replica's claim lapses unless
 * renewed (a killed replica's lapses within the lease, 30 s), between 2 s and a minute from now; 10 s when the
 * claim's end is not known. Not the delay growing with the receive count: kills and faults make a message come
 * back often, and the queue chaos test saw a lifecycle hook's message released for 5 minutes (its 7th receive)
 * while the claim of the killed replica that held its node lapsed 5 s later.
 */
export const heldElsewhereRelease = (heldUntil: Date | undefined, now: number): Duration.Duration =>
  heldUntil === undefined
    ? Duration.seconds(10)
    : Duration.clamp(Duration.millis(Math.max(0, heldUntil.getTime() - now + 1000)), {
        minimum: Duration.seconds(2),
        maximum: Duration.minutes(1)
      })
/**
 * A launch hook's node is waited for as long as the hook waits (its heartbeat timeout: nth sends no heartbeats for
 * it); when the hook's timeout cannot be read, this long: the longest heartbeat timeout Auto Scaling allows.
 */
const launchLimit = Duration.hours(2)
/** A launch hook's node is looked at again at least this often. */
const launchRecheck = Duration.seconds(30)
/** How often a launch hook's node is looked at while its message, on its last receive, is held. */
const launchWait = Duration.seconds(2)
/**
 * How long a launch hook's message waits for its node on its last receive (a redrive policy's), holding a worker:
 * long enough for a node that registers late, short enough that a scale-out does not keep the workers from
 * interruptions for long. A queue whose `maxReceiveCount` covers the hook's timeout at one receive per 30 s never
 * comes to it.
 */
const launchLastWait = Duration.minutes(10)

/**
 * This replica's name in the nodes' claims: its pod's name (`POD_NAME`), which a restarted container keeps (so it
 * takes its own claims back at once); outside a pod, the host and process.
 */
export const replicaName = (podName: string): string => podName || `${hostname()}-${process.pid}`

/** The account of an SQS queue URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`). */
const accountOfQueueUrl = (queueUrl: string): string | undefined =>
  /^https?:\/\/[^/]+\/(\d{12})\//.exec(queueUrl)?.[1]

/**
 * The instance as webhook templates see it in queue mode, where the Go handler leaves these fields empty: from
 * `DescribeInstances` (the account from its reservation's owner, else the queue URL's), and the region.
 */
export const webhookInstance = (
  instance: InstanceInfo.Instance | undefined,
  settings: {
    readonly queueUrl: string
    readonly region: string | undefined
    readonly checkTagBeforeDraining: boolean
    readonly managedTag: string
  }
): WebhookData.Instance => ({
  accountId: accountOfQueueUrl(settings.queueUrl),
  region: settings.region,
  ...(instance === undefined
    ? {}
    : {
        instanceId: instance.instanceId,
        instanceType: instance.instanceType,
        instanceLifeCycle: instance.lifeCycle,
        availabilityZone: instance.availabilityZone,
        localHostname: instance.privateDnsName || undefined,
        localIp: instance.privateIp,
        publicHostname: instance.publicDnsName,
        publicIp: instance.publicIp,
        autoScalingGroupName: instance.autoScalingGroupName,
        // The Go handler's IsManaged: the managed-tag check's result (true when the check is off).
        isManaged: !settings.checkTagBeforeDraining || Object.hasOwn(instance.tags, settings.managedTag),
        // The instance's own account (a queue may be in another account than the instances it hears of).
        ...(instance.ownerId === undefined ? {} : { accountId: instance.ownerId })
      })
})

const errorText = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

type LifecycleEvent = InterruptionEvent.AsgLifecycleTermination | InterruptionEvent.AsgLifecycleLaunch

/** The lifecycle action an event names, if it is a lifecycle hook's. */
const actionOf = (event: InterruptionEvent.InterruptionEvent): Lifecycle.Action | undefined =>
  event.kind === "AsgLifecycleTermination" || event.kind === "AsgLifecycleLaunch"
    ? {
        autoScalingGroupName: event.autoScalingGroupName,
        lifecycleHookName: event.lifecycleHookName,
        lifecycleActionToken: event.lifecycleActionToken,
        instanceId: event.instanceId
      }
    : undefined

const completeAction = (lifecycle: Lifecycle.Lifecycle, event: LifecycleEvent) =>
  Effect.gen(function* () {
    const action = actionOf(event)
    if (action === undefined) return
    const completion = yield* lifecycle.complete(action)
    yield* Effect.logInfo(
      completion === "Completed"
        ? "lifecycle action completed (CONTINUE)"
        : "lifecycle action already completed (by another replica) or no longer waiting"
    ).pipe(Effect.annotateLogs({ hook: action.lifecycleHookName, group: action.autoScalingGroupName }))
  })

// ---------------------------------------------------------------------------------------------------------------
// The handler's queue steps
// ---------------------------------------------------------------------------------------------------------------

export interface StepsOptions {
  readonly lifecycle: Lifecycle.Lifecycle
  /** `HEARTBEAT_INTERVAL` in seconds; `-1`: derived from the hook's heartbeat timeout, see {@link steps}. */
  readonly heartbeatInterval: number
  /** `HEARTBEAT_UNTIL` in seconds; `-1` with an interval: 172800 (48 h), as the Go handler. */
  readonly heartbeatUntil: number
  /** `COMPLETE_LIFECYCLE_ACTION_DELAY_SECONDS`; `0` or less: none. */
  readonly completeLifecycleActionDelaySeconds: number
  /** `NODE_TERMINATION_GRACE_PERIOD`: the drain's timeout in seconds; `0`: none. */
  readonly nodeTerminationGracePeriod: number
}

const isTermination = (context: Step.Context) => context.event.kind === "AsgLifecycleTermination"

/** Time allowed between the hook's start and nth's first look at it (the message's trip, a busy queue). */
const hookSlack = Duration.seconds(60)

/**
 * The heartbeats a termination hook's drain needs: `HEARTBEAT_INTERVAL`/`HEARTBEAT_UNTIL` when set; when not,
 * derived from the hook's own heartbeat timeout if the drain (bounded by `NODE_TERMINATION_GRACE_PERIOD` plus the
 * completion delay, or unbounded) could outlast it: a heartbeat every half timeout, until the drain's bound (or
 * the hook's global timeout, 48 h at most). `undefined`: none needed.
 */
export const heartbeatPlan = (options: StepsOptions, action: Lifecycle.Action) =>
  Effect.gen(function* () {
    if (options.heartbeatInterval > 0) {
      return {
        interval: Duration.seconds(options.heartbeatInterval),
        until: Duration.seconds(options.heartbeatUntil > 0 ? options.heartbeatUntil : 172_800)
      }
    }
    const timeouts = yield* options.lifecycle
      .hookTimeouts(action)
      .pipe(
        Effect.catch((error) =>
          Effect.as(
            Effect.logWarning(
              `reading the hook's timeout failed, so no heartbeats are derived from it: ${error.message}`
            ),
            undefined
          )
        )
      )
    if (timeouts === undefined) return undefined
    const bounded = options.nodeTerminationGracePeriod > 0
    const drainBound = Duration.sum(
      Duration.seconds(
        options.nodeTerminationGracePeriod + Math.max(0, options.completeLifecycleActionDelaySeconds)
      ),
      hookSlack
    )
    if (bounded && Duration.isLessThan(drainBound, timeouts.heartbeatTimeout)) return undefined
    const interval = Duration.max(Duration.divideUnsafe(timeouts.heartbeatTimeout, 2), Duration.seconds(5))
    const until = bounded ? drainBound : (timeouts.globalTimeout ?? Duration.hours(48))
    yield* Effect.logInfo(
      `the drain could outlast the hook's heartbeat timeout (${Duration.format(timeouts.heartbeatTimeout)}): ` +
        `heartbeats every ${Duration.format(interval)} for at most ${Duration.format(until)}`
    )
    return { interval, until }
  })

/**
 * The handler's steps for a termination lifecycle hook: heartbeats alongside the drain (see {@link heartbeatPlan}),
 * and after it (phase `acknowledge`) the delay, then `CompleteLifecycleAction`.
 */
export const steps =
  (options: StepsOptions) =>
  (defaults: ReadonlyArray<Step.Step>): ReadonlyArray<Step.Step> => {
    const { lifecycle } = options
    const heartbeats: Step.Step = {
      name: "lifecycle heartbeats",
      phase: "drain",
      alongside: "drain",
      appliesTo: isTermination,
      run: (context) =>
        Effect.gen(function* () {
          const action = actionOf(context.event)
          if (action === undefined) return
          const plan = yield* heartbeatPlan(options, action)
          if (plan !== undefined) yield* Lifecycle.heartbeats(lifecycle, action, plan)
        })
    }
    const complete: Step.Step = {
      name: "complete lifecycle action",
      phase: "acknowledge",
      appliesTo: isTermination,
      run: (context) =>
        Effect.gen(function* () {
          if (context.event.kind !== "AsgLifecycleTermination") return
          const delay = options.completeLifecycleActionDelaySeconds
          if (delay > 0) {
            yield* Effect.logInfo(`waiting ${delay} s before completing the lifecycle action`)
            // The hook keeps waiting meanwhile: heartbeats go on through the delay, as the Go handler's do.
            const action = actionOf(context.event)
            const plan = action === undefined ? undefined : yield* heartbeatPlan(options, action)
            const wait = Effect.sleep(Duration.seconds(delay))
            yield* action === undefined || plan === undefined
              ? wait
              : Effect.raceFirst(
                  wait,
                  Effect.andThen(Lifecycle.heartbeats(lifecycle, action, plan), Effect.never)
                )
          }
          yield* completeAction(lifecycle, context.event)
        })
    }
    return [...Step.insertAfter(defaults, "drain", heartbeats), complete]
  }

// ---------------------------------------------------------------------------------------------------------------
// Settling messages
// ---------------------------------------------------------------------------------------------------------------

/** What to do with a message, from one of its events. */
type Verdict =
  | { readonly _tag: "Complete" }
  | { readonly _tag: "Release"; readonly after?: Duration.Duration }
  | { readonly _tag: "Poison" }

const complete: Verdict = { _tag: "Complete" }
const release = (after?: Duration.Duration): Verdict =>
  after === undefined ? { _tag: "Release" } : { _tag: "Release", after }
const poison: Verdict = { _tag: "Poison" }

/** One verdict for a message of several events: release if any asks for it, else poison if any, else delete. */
const combine = (verdicts: ReadonlyArray<Verdict>): Verdict => {
  const released = verdicts.filter((v): v is Extract<Verdict, { _tag: "Release" }> => v._tag === "Release")
  if (released.length > 0) {
    const afters = released.flatMap((v) => (v.after === undefined ? [] : [v.after]))
    return afters.length < released.length ? release() : release(afters.reduce((a, b) => Duration.min(a, b)))
  }
  return verdicts.some((v) => v._tag === "Poison") ? poison : complete
}

export interface Options {
  readonly lifecycle: Lifecycle.Lifecycle
  readonly metrics: Metrics.Registry
  /** `CHECK_TAG_BEFORE_DRAINING` */
  readonly checkTagBeforeDraining: boolean
  /** `MANAGED_TAG` */
  readonly managedTag: string
  /** `DELETE_SQS_MSG_IF_NODE_NOT_FOUND` */
  readonly deleteSqsMsgIfNodeNotFound: boolean
  /** `USE_PROVIDER_ID`: nodes are found by provider id, so an instance without a DNS name can still be found. */
  readonly useProviderId: boolean
}

/**
 * The program's handling of one received message, on the services it was built with: decode, find each event's
 * node, hand the event to the handler (or complete a launch hook), and settle the message by the outcome.
 */
export const make = (
  options: Options
): Effect.Effect<
  (message: Intake.Message) => Effect.Effect<void>,
  never,
  Handler.Handler | InstanceInfo.InstanceInfo | NodeIndex.NodeIndex
> =>
  Effect.gen(function* () {
    const handler = yield* Handler.Handler
    const instances = yield* InstanceInfo.InstanceInfo
    const nodes = yield* NodeIndex.NodeIndex
    const { lifecycle, metrics } = options
    // Queue mode's own metrics, beside the Go handler's (which the handler counts). `kind`: the kind of the
    // message's (first) event, or `unreadable`, `ignored`, `test-notification`.
    const received = metrics.counter<"kind">(
      "nth_queue_messages_received_total",
      "Messages received from the queue (every receive, redeliveries included), by kind",
      { labels: ["kind"] }
    )
    const settled = metrics.counter<"kind" | "outcome">(
      "nth_queue_messages_total",
      "Messages of the queue settled, by kind and how: deleted, released (made visible again, tried later), poison",
      { labels: ["kind", "outcome"] }
    )
    const receiveLag = metrics.histogram(
      "nth_queue_receive_lag_seconds",
      "From a message's arrival in the queue to its first receive"
    )
    const eventToCordon = metrics.histogram<"kind">(
      "nth_queue_event_to_cordon_seconds",
      "From an event's message arriving in the queue to its node being cordoned, by kind",
      { labels: ["kind"] }
    )
    const eventToDrained = metrics.histogram<"kind">(
      "nth_queue_event_to_drained_seconds",
      "From an event's message arriving in the queue to its node being drained, by kind",
      { labels: ["kind"] }
    )
    const outcomeLabel = { Complete: "deleted", Release: "released", Poison: "poison" } as const

    /** Completes the event's lifecycle action: then the message can go; if that failed, it is tried again later. */
    const completeThenDelete = (event: LifecycleEvent) =>
      completeAction(lifecycle, event).pipe(
        Effect.as(complete),
        Effect.catch((error) =>
          Effect.as(Effect.logWarning(`completing the lifecycle action failed: ${error.message}`), release())
        )
      )

    /** No node for the event's instance: deleted with DELETE_SQS_MSG_IF_NODE_NOT_FOUND or on the bound. */
    const notFound = (event: InterruptionEvent.InterruptionEvent, message: Intake.Message) =>
      Effect.gen(function* () {
        if (options.deleteSqsMsgIfNodeNotFound) {
          yield* Effect.logInfo("the instance's node is not in the cluster: message deleted")
          // As the Go handler: the post-drain work runs, so a termination hook is completed too.
          if (event.kind === "AsgLifecycleTermination") {
            const verdict = yield* completeThenDelete(event)
            if (verdict._tag !== "Complete") return verdict
          }
          return complete
        }
        if (message.receiveCount >= maxReceivesBeforeDrop) {
          yield* Effect.logWarning(
            `the instance's node is still not in the cluster after ${message.receiveCount} receives: message deleted`
          )
          return complete
        }
        yield* Effect.logInfo("the instance's node is not in the cluster (yet): trying again later")
        return release()
      })

    /**
     * A launch hook: completed once the node is Ready, else looked at again later (at most every 30 s), until the
     * hook is over. With a redrive policy, the message's last receive (released then, it would go to the
     * dead-letter queue) waits for the node here, holding a worker, for at most {@link launchLastWait}.
     */
    const launch = (
      event: InterruptionEvent.AsgLifecycleLaunch,
      nodeReady: Effect.Effect<boolean | undefined, NodeIndex.NodeIndexError>,
      message: Intake.Message
    ) =>
      Effect.gen(function* () {
        const ready = yield* nodeReady
        if (ready === true) {
          return yield* completeThenDelete(event)
        }
        const limit = yield* lifecycle.hookTimeouts(event).pipe(
          Effect.map((timeouts) => timeouts?.heartbeatTimeout ?? launchLimit),
          Effect.catch((error) =>
            Effect.as(Effect.logWarning(`reading the hook's timeout failed: ${error.message}`), launchLimit)
          )
        )
        const limitMs = Duration.toMillis(limit)
        const ageOf = Effect.map(Clock.currentTimeMillis, (now) => now - message.sentAt.getTime())
        const gaveUp = Effect.as(
          Effect.logWarning(
            "the launched instance's node never became Ready while the hook could wait: message deleted"
          ),
          complete
        )
        if ((yield* ageOf) > limitMs) return yield* gaveUp
        if (message.receivesLeft === 0) {
          yield* Effect.logInfo(
            "the launched instance's node is not Ready yet, and this is the message's last receive before the dead-letter queue: waiting for it here"
          )
          const until = (yield* Clock.currentTimeMillis) + Duration.toMillis(launchLastWait)
          for (;;) {
            yield* Effect.sleep(launchWait)
            const now = yield* nodeReady.pipe(
              Effect.catch((error) =>
                Effect.as(Effect.logWarning(`looking up the node failed: ${error.message}`), false)
              )
            )
            if (now === true) return yield* completeThenDelete(event)
            if ((yield* ageOf) > limitMs) return yield* gaveUp
            if ((yield* Clock.currentTimeMillis) > until) {
              yield* Effect.logWarning(
                `the launched instance's node is still not Ready after ${Duration.format(launchLastWait)} on the message's last receive: left to the redrive policy`
              )
              return release()
            }
          }
        }
        yield* Effect.logInfo(
          ready === undefined
            ? "the launched instance has no node yet: looking again later"
            : "the launched instance's node is not Ready yet: looking again later"
        )
        return release(Duration.min(Intake.defaultReleaseDelay(message.receiveCount), launchRecheck))
      })

    /**
     * Hands the event to the handler. The same event being handled by another message's work here is waited for,
     * the message held. A node another replica holds is waited for briefly only, then the message is released
     * (back when that replica's claim lapses): a wait as long as that replica's drain would keep one of `WORKERS`
     * busy. On the message's last receive (a redrive policy's) it is held as long, since a release would send it to
     * the dead-letter queue while the other replica may yet die.
     */
    const handleHeld = (event: InterruptionEvent.InterruptionEvent, message: Intake.Message) =>
      Effect.gen(function* () {
        const started = yield* Clock.currentTimeMillis
        for (;;) {
          const outcome = yield* handler.handle(event)
          if (outcome._tag !== "InProgress") return outcome
          const waited = (yield* Clock.currentTimeMillis) - started
          const limit =
            outcome.heldBy === undefined || message.receivesLeft === 0 ? inProgressLimit : heldElsewhereLimit
          if (waited > Duration.toMillis(limit)) return outcome
          yield* Effect.sleep(inProgressRecheck)
        }
      })

    const handleEvent = (event: InterruptionEvent.InterruptionEvent, message: Intake.Message) =>
      Effect.gen(function* () {
        const instanceId = event.instanceId
        if (instanceId === undefined) {
          yield* Effect.logError("the event names no instance")
          return poison
        }
        const instance = yield* instances.describe(instanceId)
        if (instance === undefined) {
          yield* Effect.logInfo(
            "EC2 does not know the instance (gone, or another account's): message deleted"
          )
          return complete
        }
        const managed = InstanceInfo.isManaged(instance, {
          checkTag: options.checkTagBeforeDraining,
          managedTag: options.managedTag
        })
        if (!managed) {
          yield* Effect.logInfo(`the instance has no ${options.managedTag} tag: not managed, message deleted`)
          handler.metrics.eventsIgnored.increment({ kind: event.kind })
          return complete
        }
        const running = instance.state === "running" || instance.state === "pending"
        if (instance.privateDnsName === "" && !options.useProviderId && !running) {
          yield* Effect.logInfo(`the instance has no private DNS name (${instance.state}): message deleted`)
          return complete
        }
        if (event.kind === "AsgLifecycleLaunch") {
          const nodeReady = Effect.map(nodes.lookup(instance), (found) =>
            found === undefined ? undefined : NodeIndex.isReady(found)
          )
          return yield* launch(event, nodeReady, message)
        }
        const node = yield* nodes.lookup(instance)
        const nodeName = node?.metadata?.name
        if (nodeName === undefined) return yield* notFound(event, message)
        yield* Effect.logDebug("node found").pipe(Effect.annotateLogs({ node: nodeName }))
        const handedAt = yield* Clock.currentTimeMillis
        const outcome = yield* handleHeld({ ...event, nodeName }, message)
        if (outcome._tag === "Cordoned" || outcome._tag === "Drained") {
          // Measured from the message's arrival in the queue: what the operator waits for, queueing included.
          const since = (afterMs: number) => (handedAt + afterMs - message.sentAt.getTime()) / 1000
          eventToCordon.observe(since(outcome.cordonedAfterMs), { kind: event.kind })
          if (outcome._tag === "Drained")
            eventToDrained.observe(since(outcome.drainedAfterMs), { kind: event.kind })
        }
        if (outcome._tag === "AlreadyDone" && event.kind === "AsgLifecycleTermination") {
          // Drained before (by another replica, or by this one before a crash): the completion may be what was
          // cut short. Completing again is harmless (Auto Scaling says the action is no longer waiting).
          return yield* completeThenDelete(event)
        }
        if (Handler.isDone(outcome) || outcome._tag === "AlreadyDone" || outcome._tag === "Ignored")
          return complete
        switch (outcome._tag) {
          case "InProgress":
            return outcome.heldBy === undefined
              ? release()
              : release(heldElsewhereRelease(outcome.heldUntil, yield* Clock.currentTimeMillis))
          case "NodeNotFound":
            return yield* notFound(event, message)
          case "Failed":
            return outcome.retryable ? release() : poison
        }
      }).pipe(
        Effect.catch((error) =>
          // EC2 or the node index could not answer: tried again later (the Go handler keeps such a message).
          Effect.as(Effect.logWarning(`finding the instance's node failed: ${error.message}`), release())
        ),
        Effect.annotateLogs({ eventId: event.id, kind: event.kind, instance: event.instanceId ?? "unknown" })
      )

    const settle = (message: Intake.Message, verdict: Verdict, kind: string) =>
      Effect.gen(function* () {
        settled.increment({ kind, outcome: outcomeLabel[verdict._tag] })
        switch (verdict._tag) {
          case "Complete":
            yield* message.complete
            return yield* Effect.logDebug("message deleted")
          case "Release":
            return yield* message.release(verdict.after)
          case "Poison": {
            const outcome = yield* message.poison
            yield* Effect.logWarning(`message set aside (${outcome})`)
          }
        }
      }).pipe(
        Effect.catch((error) =>
          Effect.logWarning(
            `settling the message failed (it comes back after its visibility timeout): ${error.message}`
          )
        )
      )

    return (message: Intake.Message) =>
      Effect.gen(function* () {
        yield* Effect.logDebug("message received").pipe(
          Effect.annotateLogs({ sentAt: message.sentAt.toISOString() })
        )
        if (message.receiveCount <= 1)
          receiveLag.observe(Math.max(0, message.receivedAt.getTime() - message.sentAt.getTime()) / 1000)
        const decoded = QueueMessage.decode(message.body, { now: new Date(yield* Clock.currentTimeMillis) })
        const kind = Result.isFailure(decoded)
          ? "unreadable"
          : decoded.success._tag === "Events"
            ? (decoded.success.events[0]?.kind ?? "ignored")
            : decoded.success._tag === "Ignored"
              ? "ignored"
              : "test-notification"
        received.increment({ kind })
        if (Result.isFailure(decoded)) {
          handler.metrics.eventErrors.increment({ event_error_where: "sqs-message" })
          yield* Effect.logWarning(
            `unreadable message (${decoded.failure.reason}): ${decoded.failure.message}`
          )
          return yield* settle(message, poison, kind)
        }
        if (decoded.success._tag !== "Events") {
          yield* Effect.logDebug(
            decoded.success._tag === "Ignored"
              ? `message ignored: ${decoded.success.reason}`
              : "Auto Scaling test notification"
          )
          return yield* settle(message, complete, kind)
        }
        const verdicts = yield* Effect.forEach(
          decoded.success.events,
          (event) => handleEvent(event, message),
          {
            concurrency: "unbounded"
          }
        )
        yield* settle(message, combine(verdicts), kind)
      }).pipe(
        Effect.catchDefect((defect) =>
          Effect.andThen(
            Effect.logError(`handling the message failed unexpectedly: ${errorText(defect)}`),
            settle(message, release(), "unknown")
          )
        ),
        Effect.annotateLogs({ messageId: message.messageId, receiveCount: message.receiveCount })
      )
  })
