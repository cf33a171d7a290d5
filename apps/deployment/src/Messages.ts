/**
 * What only the queue-mode program does: settling each message of the queue by what became of its events, the
 * launch lifecycle hook (complete once the node is Ready), and the handler steps of a termination lifecycle hook
 * (heartbeats during the drain, completing the action after it). The IMDS program has none of these.
 *
 * A message is always settled, and never in a hot loop: deleted (`complete`) once its work is done or there is
 * none, made visible again later (`release`, a delay growing with its receive count) when trying again may help,
 * `poison` when it cannot be read or trying again cannot help.
 */
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling"
import type { InterruptionEvent } from "@nth/events"
import { Handler, type Metrics, Step } from "@nth/handler"
import { InstanceInfo, Intake, Lifecycle, NodeIndex, QueueMessage } from "@nth/queue-monitor"
import { Clock, Duration, Effect, Result, type Scope } from "effect"

/**
 * Receives after which a message whose node is not found is deleted (without DELETE_SQS_MSG_IF_NODE_NOT_FOUND):
 * the intake's `maxReceivesBeforeDrop`, which main.ts gives it.
 */
export const maxReceivesBeforeDrop = 5

/** How often a message whose event is being handled by another message's work is looked at again. */
const inProgressRecheck = Duration.seconds(2)
/** How long a message whose event stays in progress is held before it is released (a stop hands events over). */
const inProgressLimit = Duration.minutes(30)
/** A launch hook waits for a Ready node at most this long: the longest heartbeat timeout Auto Scaling allows. */
const launchLimit = Duration.hours(2)
/** A launch hook's node is looked at again at least this often. */
const launchRecheck = Duration.seconds(30)

/** The region of an SQS queue URL (`https://sqs.<region>.amazonaws.com/…`), for EC2 and Auto Scaling. */
export const regionOfQueueUrl = (queueUrl: string): string | undefined =>
  /^https?:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\//.exec(queueUrl)?.[1]

/** Where the AWS clients go. */
export interface AwsOptions {
  readonly region?: string
  readonly endpoint?: string
}

/**
 * `AWS_REGION`, else the queue URL's region, else the SDK's (`AWS_REGION`, the shared config); `AWS_ENDPOINT` (an
 * emulator), else the SDK's.
 */
export const awsOptions = (settings: {
  readonly awsRegion: string
  readonly awsEndpoint: string
  readonly queueUrl: string
}): AwsOptions => {
  const region = settings.awsRegion || regionOfQueueUrl(settings.queueUrl)
  return {
    ...(region ? { region } : {}),
    ...(settings.awsEndpoint ? { endpoint: settings.awsEndpoint } : {})
  }
}

/**
 * Lifecycle actions on an Auto Scaling client of their own, destroyed with the scope. The SDK's retries are off:
 * `Lifecycle.complete` retries transient failures itself, and a failed heartbeat is followed by the next.
 */
export const makeLifecycle = (aws: AwsOptions): Effect.Effect<Lifecycle.Lifecycle, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new AutoScalingClient({ ...aws, maxAttempts: 1 })),
    (client) => Effect.sync(() => client.destroy())
  ).pipe(Effect.map(Lifecycle.make))

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
  /** `HEARTBEAT_INTERVAL` in seconds; `-1`: no heartbeats. */
  readonly heartbeatInterval: number
  /** `HEARTBEAT_UNTIL` in seconds; `-1` with an interval: 172800 (48 h), as the Go handler. */
  readonly heartbeatUntil: number
  /** `COMPLETE_LIFECYCLE_ACTION_DELAY_SECONDS`; `0` or less: none. */
  readonly completeLifecycleActionDelaySeconds: number
}

const isTermination = (context: Step.Context) => context.event.kind === "AsgLifecycleTermination"

/**
 * The handler's steps for a termination lifecycle hook: heartbeats alongside the drain (when
 * `HEARTBEAT_INTERVAL` is set), and after it (phase `acknowledge`) the delay, then `CompleteLifecycleAction`.
 */
export const steps =
  (options: StepsOptions) =>
  (defaults: ReadonlyArray<Step.Step>): ReadonlyArray<Step.Step> => {
    const { lifecycle } = options
    const heartbeats: ReadonlyArray<Step.Step> =
      options.heartbeatInterval > 0
        ? [
            {
              name: "lifecycle heartbeats",
              phase: "drain",
              alongside: "drain",
              appliesTo: isTermination,
              run: (context) => {
                const action = actionOf(context.event)
                return action === undefined
                  ? Effect.void
                  : Lifecycle.heartbeats(lifecycle, action, {
                      interval: Duration.seconds(options.heartbeatInterval),
                      until: Duration.seconds(options.heartbeatUntil > 0 ? options.heartbeatUntil : 172_800)
                    })
              }
            }
          ]
        : []
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
            yield* Effect.sleep(Duration.seconds(delay))
          }
          yield* completeAction(lifecycle, context.event)
        })
    }
    return [...Step.insertAfter(defaults, "drain", ...heartbeats), complete]
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
    const settled = metrics.counter<"outcome">(
      "nth_queue_messages_total",
      "Messages of the queue settled, by how: complete (deleted), release (tried again later), poison",
      { labels: ["outcome"] }
    )

    /** No node for the event's instance: deleted with DELETE_SQS_MSG_IF_NODE_NOT_FOUND or on the bound. */
    const notFound = (event: InterruptionEvent.InterruptionEvent, message: Intake.Message) =>
      Effect.gen(function* () {
        if (options.deleteSqsMsgIfNodeNotFound) {
          yield* Effect.logInfo("the instance's node is not in the cluster: message deleted")
          // As the Go handler: the post-drain work runs, so a termination hook is completed too.
          if (event.kind === "AsgLifecycleTermination") {
            const done = yield* completeAction(lifecycle, event).pipe(
              Effect.as(true),
              Effect.catch((error) =>
                Effect.as(
                  Effect.logWarning(`completing the lifecycle action failed: ${error.message}`),
                  false
                )
              )
            )
            if (!done) return release()
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

    /** A launch hook: completed once the node is Ready, else looked at again later, until the hook is over. */
    const launch = (
      event: InterruptionEvent.AsgLifecycleLaunch,
      node: { readonly ready: boolean } | undefined,
      message: Intake.Message
    ) =>
      Effect.gen(function* () {
        if (node?.ready) {
          return yield* completeAction(lifecycle, event).pipe(
            Effect.as(complete),
            Effect.catch((error) =>
              Effect.as(
                Effect.logWarning(`completing the lifecycle action failed: ${error.message}`),
                release()
              )
            )
          )
        }
        const age = (yield* Clock.currentTimeMillis) - message.sentAt.getTime()
        if (age > Duration.toMillis(launchLimit)) {
          yield* Effect.logWarning(
            "the launched instance's node never became Ready while the hook could wait: message deleted"
          )
          return complete
        }
        yield* Effect.logInfo(
          node === undefined
            ? "the launched instance has no node yet: looking again later"
            : "the launched instance's node is not Ready yet: looking again later"
        )
        return release(Duration.min(Intake.defaultReleaseDelay(message.receiveCount), launchRecheck))
      })

    /** Hands the event to the handler; an event another message's work is handling is waited for, held. */
    const handleHeld = (event: InterruptionEvent.InterruptionEvent) =>
      Effect.gen(function* () {
        const started = yield* Clock.currentTimeMillis
        for (;;) {
          const outcome = yield* handler.handle(event)
          if (outcome._tag !== "InProgress") return outcome
          if ((yield* Clock.currentTimeMillis) - started > Duration.toMillis(inProgressLimit)) return outcome
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
        const node = yield* nodes.lookup(instance)
        if (event.kind === "AsgLifecycleLaunch")
          return yield* launch(event, node && { ready: NodeIndex.isReady(node) }, message)
        const nodeName = node?.metadata?.name
        if (nodeName === undefined) return yield* notFound(event, message)
        const outcome = yield* handleHeld({ ...event, nodeName })
        if (Handler.isDone(outcome) || outcome._tag === "AlreadyDone" || outcome._tag === "Ignored")
          return complete
        switch (outcome._tag) {
          case "InProgress":
            return release()
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

    const settle = (message: Intake.Message, verdict: Verdict) =>
      Effect.gen(function* () {
        settled.increment({ outcome: verdict._tag.toLowerCase() })
        switch (verdict._tag) {
          case "Complete":
            return yield* message.complete
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
        const decoded = QueueMessage.decode(message.body, { now: new Date(yield* Clock.currentTimeMillis) })
        if (Result.isFailure(decoded)) {
          handler.metrics.eventErrors.increment({ event_error_where: "sqs-message" })
          yield* Effect.logWarning(
            `unreadable message (${decoded.failure.reason}): ${decoded.failure.message}`
          )
          return yield* settle(message, poison)
        }
        if (decoded.success._tag !== "Events") {
          yield* Effect.logDebug(
            decoded.success._tag === "Ignored"
              ? `message ignored: ${decoded.success.reason}`
              : "Auto Scaling test notification"
          )
          return yield* settle(message, complete)
        }
        const verdicts = yield* Effect.forEach(
          decoded.success.events,
          (event) => handleEvent(event, message),
          {
            concurrency: "unbounded"
          }
        )
        yield* settle(message, combine(verdicts))
      }).pipe(
        Effect.catchDefect((defect) =>
          Effect.andThen(
            Effect.logError(`handling the message failed unexpectedly: ${errorText(defect)}`),
            settle(message, release())
          )
        ),
        Effect.annotateLogs({ messageId: message.messageId, receiveCount: message.receiveCount })
      )
  })
