/**
 * One drain per node at a time. The first event for a node starts its drain; an event for a node already being
 * drained joins that drain instead of starting another (which would evict every pod a second time): its
 * deadline, when earlier, moves the drain's deadline earlier, and it ends with the drain's result.
 */
import { Deadline, type Drainer, type DrainReport } from "@nth/drainer"
import { Reason } from "@nth/events"
import { Deferred, Effect, Exit, Fiber } from "effect"
import type * as KubeEvents from "../KubeEvents.ts"
import type * as Step from "../Step.ts"

/** The drain another event started failed: that event reports the failure; this one only fails with it. */
export interface JoinedDrainFailed {
  readonly _tag: "JoinedDrainFailed"
  readonly message: string
  readonly cause: unknown
}

export interface NodeDrains {
  /** Drains the node, or joins the drain under way on it. */
  readonly drain: (nodeName: string, deadline: Date | undefined) => Effect.Effect<Step.Drained, unknown>
}

interface Running {
  readonly deadline: Deadline.Deadline
  readonly result: Deferred.Deferred<DrainReport.DrainReport, unknown>
}

const errorText = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

export const make = (options: {
  readonly drainer: Drainer.Drainer["Service"]
  readonly events: KubeEvents.KubeEvents
  /** Every drain's options but its deadline and progress callback. */
  readonly drainOptions: Omit<Drainer.Options, "deadline" | "onProgress">
}): NodeDrains => {
  const { drainer, events } = options
  const running = new Map<string, Running>()

  /** Drains the node under `owned`'s deadline (which events that join may move earlier). */
  const run = (nodeName: string, owned: Running): Effect.Effect<Step.Drained, unknown> =>
    Effect.gen(function* () {
      const services = yield* Effect.context<never>()
      // Progress arrives in a plain callback: its log lines and Events run with the caller's services (so they go
      // through the program's logger and level), and the drain ends once the Events are sent.
      const sending: Array<Fiber.Fiber<void>> = []
      const report = yield* drainer
        .drain(nodeName, {
          ...options.drainOptions,
          deadline: owned.deadline,
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
            // A pod left on the node at its own request (nth.aws/do-not-evict) is said so, never silently: a log
            // line, and an Event on the pod.
            if (progress._tag === "PodSkipped" && progress.reason === "DoNotEvict") {
              const { pod } = progress
              Effect.runForkWith(services)(
                Effect.logInfo(`pod skipped: ${progress.message}`).pipe(
                  Effect.annotateLogs({ pod: `${pod.namespace}/${pod.name}`, reason: progress.reason })
                )
              )
              sending.push(
                Effect.runForkWith(services)(
                  events.emitFor(
                    { kind: "Pod", name: pod.name, namespace: pod.namespace, uid: pod.uid },
                    "Normal",
                    Reason.nodeAction.PodSkipped,
                    `Pod left on the node, which drains without it (node ${nodeName}): ${progress.message}`,
                    { node: nodeName, ...pod.labels }
                  )
                )
              )
            }
            // The Go handler reports each evicted pod with an Event on the pod, annotated with the node and every
            // label of the pod (the extra annotations setting is added to every Event).
            if (progress._tag === "PodEvicted" || progress._tag === "PodDeleted") {
              const { pod } = progress
              sending.push(
                Effect.runForkWith(services)(
                  events.emitFor(
                    { kind: "Pod", name: pod.name, namespace: pod.namespace, uid: pod.uid },
                    "Normal",
                    Reason.nodeAction.PodEviction,
                    `Pod evicted due to node drain (node ${nodeName})`,
                    { node: nodeName, ...pod.labels }
                  )
                )
              )
            }
          }
        })
        .pipe(Effect.ensuring(Effect.suspend(() => Fiber.awaitAll(sending))))
      return { _tag: "Ran", report }
    })

  /** Waits for the drain under way, first moving its deadline earlier if `deadline` is. */
  const join = (drain: Running, deadline: Date | undefined): Effect.Effect<Step.Drained, unknown> =>
    Effect.gen(function* () {
      const before = drain.deadline.current()
      const moved = deadline !== undefined && drain.deadline.moveEarlier(deadline)
      yield* Effect.logInfo("a drain is already under way on the node: this event joins it").pipe(
        Effect.annotateLogs(
          moved
            ? { deadlineMovedTo: deadline.toISOString(), deadlineWas: before?.toISOString() ?? "none" }
            : {}
        )
      )
      const report = yield* Deferred.await(drain.result).pipe(
        Effect.mapError(
          (cause): JoinedDrainFailed => ({ _tag: "JoinedDrainFailed", message: errorText(cause), cause })
        )
      )
      return { _tag: "Joined", report }
    })

  // Looked up and claimed in one synchronous step, so that two events arriving together cannot both start a
  // drain; from the claim on, the drain's end is always published (and the claim released), however it ends.
  const drain: NodeDrains["drain"] = (nodeName, deadline) =>
    Effect.uninterruptibleMask((restore): Effect.Effect<Step.Drained, unknown> => {
      const current = running.get(nodeName)
      if (current !== undefined) return restore(join(current, deadline))
      const owned: Running = { deadline: Deadline.make(deadline), result: Deferred.makeUnsafe() }
      running.set(nodeName, owned)
      return restore(run(nodeName, owned)).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            running.delete(nodeName)
          }).pipe(
            Effect.andThen(
              Deferred.done(
                owned.result,
                Exit.map(exit, (drained) => drained.report)
              )
            )
          )
        )
      )
    })

  return { drain }
}
