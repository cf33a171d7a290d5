/**
 * Knows when a pod is really gone from the node, from one watch of the node's pods (kubectl polls every pod
 * once a second instead).
 *
 * Pods are tracked by UID: a pod is gone when its UID is deleted, or when a pod of the same namespace and name
 * but another UID appears (a StatefulSet's replacement), or when a relist no longer shows it. The watch starts
 * from the resourceVersion of the drain's own pod list, so no deletion can slip between the two.
 *
 * The watch is `ListWatch`'s: it comes back after an error with a growing backoff, relisting first. While it
 * cannot be used (its last attempt failed), the pods still awaited are polled once a second, by name, as
 * kubectl does: a pod is gone when no pod of its name exists or one with another UID does. When the watch and the polls are both
 * refused (401, 403) the waits fail with the watch's error: no waiting can end them.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { type KubeClient, type KubeError, ListWatch } from "@nth/kube"
import { Clock, Deferred, Duration, Effect, type Schedule, type Scope, Stream } from "effect"
import type { PodRef } from "../DrainReport.ts"

interface PodObject {
  readonly metadata?: {
    readonly uid?: string
    readonly name?: string
    readonly namespace?: string
    readonly deletionTimestamp?: Date | string
  }
}

/** How a wait ended: the pod is gone, or it has been terminating for longer than the caller waits for. */
export type Waited = "Gone" | "Skipped"

export interface PodTracker {
  /**
   * Resolves once the pod is gone, or with `Skipped` once its deletion time lies more than
   * `skipWaitForDeleteTimeoutSeconds` (when > 0) in the past, as kubectl's wait does. Fails when neither the
   * watch nor the polls may read pods.
   */
  readonly awaitGone: (
    pod: PodRef,
    options?: { readonly skipWaitForDeleteTimeoutSeconds?: number }
  ) => Effect.Effect<Waited, KubeError.KubeError>
  readonly isGone: (uid: string) => boolean
}

export interface PodTrackerOptions {
  /** How often awaited pods are polled while the watch is down (and stuck ones checked). Default 1 s. */
  readonly pollInterval?: Duration.Input
  /** Between watch attempts that fail in a row. Default: `ListWatch.defaultBackoff`. */
  readonly backoff?: Schedule.Schedule<unknown>
  /** Poll rounds refused in a row (with the watch refused too) before the waits fail. Default 3. */
  readonly refusedPollsBeforeFailing?: number
}

interface Waiter {
  readonly ref: PodRef
  readonly skipAfterMs: number | undefined
  readonly done: Deferred.Deferred<Waited, KubeError.KubeError>
}

// Errors waiting does not cure: the credentials or the permissions are wrong.
const isRefusal = (error: KubeError.KubeError) =>
  error.reason === "Unauthorized" || error.reason === "Forbidden"

// Timestamps are Dates from typed list calls and strings from watches.
const millis = (time: Date | string | undefined) =>
  time === undefined ? undefined : new Date(time).getTime()

export const makePodTracker = (
  kube: KubeClient.Service,
  nodeName: string,
  initial: { readonly pods: ReadonlyArray<V1Pod>; readonly resourceVersion: string | undefined },
  options: PodTrackerOptions = {}
): Effect.Effect<PodTracker, never, Scope.Scope> =>
  Effect.gen(function* () {
    const pollInterval = Duration.fromInputUnsafe(options.pollInterval ?? "1 second")
    const refusedPollsBeforeFailing = options.refusedPollsBeforeFailing ?? 3
    // uid → namespace/name, for the pods still on the node.
    const present = new Map<string, string>()
    // uid → when its deletion is due (the pod's deletionTimestamp), for pods being deleted.
    const deletionDue = new Map<string, number>()
    const gone = new Set<string>()
    const waiting = new Map<string, Waiter>()
    const nameOf = (object: PodObject) => `${object.metadata?.namespace}/${object.metadata?.name}`
    // Set once the watch and the polls are both refused: every wait, present and future, fails with it.
    let failure: KubeError.KubeError | undefined
    // False from a failed watch (or list) attempt until the next event: the polls stand in for it meanwhile.
    let watchUsable = true
    let watchRefusal: KubeError.KubeError | undefined
    let refusedPolls = 0

    const finish = (uid: string, waited: Waited) => {
      const waiter = waiting.get(uid)
      if (waiter === undefined) return
      waiting.delete(uid)
      Deferred.doneUnsafe(waiter.done, Effect.succeed(waited))
    }

    const markGone = (uid: string) => {
      present.delete(uid)
      deletionDue.delete(uid)
      gone.add(uid)
      finish(uid, "Gone")
    }

    const seen = (object: PodObject) => {
      const uid = object.metadata?.uid
      if (uid === undefined || gone.has(uid)) return
      const name = nameOf(object)
      for (const [otherUid, otherName] of present)
        if (otherName === name && otherUid !== uid) markGone(otherUid)
      present.set(uid, name)
      const due = millis(object.metadata?.deletionTimestamp)
      if (due !== undefined) deletionDue.set(uid, due)
    }

    const fail = (error: KubeError.KubeError) => {
      failure = error
      for (const waiter of waiting.values()) Deferred.doneUnsafe(waiter.done, Effect.fail(error))
      waiting.clear()
    }

    for (const pod of initial.pods) seen(pod)

    // One watch of the node's pods, from the drain's own list; ListWatch relists after errors and on Gone.
    yield* ListWatch.stream(kube, ListWatch.pods, {
      fieldSelector: `spec.nodeName=${nodeName}`,
      resourceVersion: initial.resourceVersion,
      backoff: options.backoff
    }).pipe(
      Stream.runForEach((signal) =>
        Effect.sync(() => {
          switch (signal._tag) {
            case "Listed": {
              const listed = new Set(signal.items.map((pod) => pod.metadata?.uid))
              for (const uid of [...present.keys()]) if (!listed.has(uid)) markGone(uid)
              for (const pod of signal.items) seen(pod)
              return
            }
            case "Event": {
              if (signal.type === "DELETED") {
                const uid = signal.object.metadata?.uid
                if (uid) markGone(uid)
              } else {
                seen(signal.object)
              }
              return
            }
            case "Up": {
              watchUsable = true
              watchRefusal = undefined
              return
            }
            case "Down": {
              watchUsable = false
              watchRefusal = isRefusal(signal.error) ? signal.error : undefined
              return
            }
          }
        })
      ),
      Effect.forkScoped
    )

    // kubectl's wait, for the pods the watch cannot answer for: is a pod of that name still there, with that UID?
    const poll = (waiter: Waiter) => {
      const { namespace, name, uid } = waiter.ref
      return kube
        .call(`read pod ${namespace}/${name}`, (o) =>
          kube.core.listPodForAllNamespaces(
            { fieldSelector: `metadata.namespace=${namespace},metadata.name=${name}` },
            o
          )
        )
        .pipe(
          Effect.map((list) => {
            const same = list.items.find((pod) => pod.metadata?.uid === uid)
            if (same === undefined) markGone(uid)
            else seen(same)
            return undefined
          }),
          Effect.catch((error) => Effect.succeed(error))
        )
    }

    const tick = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (const waiter of [...waiting.values()]) {
        const due = deletionDue.get(waiter.ref.uid)
        if (waiter.skipAfterMs !== undefined && due !== undefined && now - due > waiter.skipAfterMs)
          finish(waiter.ref.uid, "Skipped")
      }
      if (watchUsable || waiting.size === 0) {
        refusedPolls = 0
        return
      }
      const errors = yield* Effect.forEach([...waiting.values()], poll, { concurrency: 10 })
      const refused = errors.length > 0 && errors.every((error) => error !== undefined && isRefusal(error))
      refusedPolls = refused ? refusedPolls + 1 : 0
      if (refused && watchRefusal !== undefined && refusedPolls >= refusedPollsBeforeFailing)
        fail(watchRefusal)
    })

    yield* tick.pipe(Effect.andThen(Effect.sleep(pollInterval)), Effect.forever, Effect.forkScoped)

    return {
      isGone: (uid) => gone.has(uid),
      awaitGone: (ref, waitOptions = {}) =>
        Effect.suspend(() => {
          if (failure !== undefined) return Effect.fail(failure)
          if (gone.has(ref.uid)) return Effect.succeed<Waited>("Gone")
          let waiter = waiting.get(ref.uid)
          if (waiter === undefined) {
            const skip = waitOptions.skipWaitForDeleteTimeoutSeconds ?? 0
            waiter = {
              ref,
              skipAfterMs: skip > 0 ? skip * 1000 : undefined,
              done: Deferred.makeUnsafe<Waited, KubeError.KubeError>()
            }
            waiting.set(ref.uid, waiter)
          }
          return Deferred.await(waiter.done)
        })
    }
  })
