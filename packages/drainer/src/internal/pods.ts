/**
 * Knows when a pod is really gone from the node, from one watch of the node's pods (kubectl polls every pod
 * once a second instead).
 *
 * Pods are tracked by UID: a pod is gone when its UID is deleted, or when a pod of the same namespace and name
 * but another UID appears (a StatefulSet's replacement), or when a relist no longer shows it. The watch starts
 * from the resourceVersion of the drain's own pod list, so no deletion can slip between the two.
 */
import type { V1Pod } from "@kubernetes/client-node"
import type { KubeClient } from "@nth/kube"
import { Deferred, Effect, Schedule, type Scope, Stream } from "effect"

interface PodObject {
  readonly metadata?: { readonly uid?: string; readonly name?: string; readonly namespace?: string }
}

export interface PodTracker {
  /** Resolves once the pod with this UID is gone. */
  readonly awaitGone: (uid: string) => Effect.Effect<void>
  readonly isGone: (uid: string) => boolean
}

export const makePodTracker = (
  kube: KubeClient.Service,
  nodeName: string,
  initial: { readonly pods: ReadonlyArray<V1Pod>; readonly resourceVersion: string | undefined }
): Effect.Effect<PodTracker, never, Scope.Scope> =>
  Effect.gen(function* () {
    const fieldSelector = `spec.nodeName=${nodeName}`
    // uid → namespace/name, for the pods still on the node.
    const present = new Map<string, string>()
    const gone = new Set<string>()
    const waiting = new Map<string, Deferred.Deferred<void>>()
    const nameOf = (object: PodObject) => `${object.metadata?.namespace}/${object.metadata?.name}`

    const markGone = (uid: string) => {
      present.delete(uid)
      gone.add(uid)
      const deferred = waiting.get(uid)
      if (deferred) {
        waiting.delete(uid)
        Deferred.doneUnsafe(deferred, Effect.void)
      }
    }

    const seen = (object: PodObject) => {
      const uid = object.metadata?.uid
      if (uid === undefined || gone.has(uid)) return
      const name = nameOf(object)
      for (const [otherUid, otherName] of present)
        if (otherName === name && otherUid !== uid) markGone(otherUid)
      present.set(uid, name)
    }

    for (const pod of initial.pods) seen(pod)
    let resourceVersion = initial.resourceVersion

    const relist = Effect.gen(function* () {
      const list = yield* kube.call(`list pods on ${nodeName}`, (o) =>
        kube.core.listPodForAllNamespaces({ fieldSelector }, o)
      )
      const listed = new Set(list.items.map((pod) => pod.metadata?.uid))
      for (const uid of [...present.keys()]) if (!listed.has(uid)) markGone(uid)
      for (const pod of list.items) seen(pod)
      resourceVersion = list.metadata?.resourceVersion
    })

    const watch = Effect.suspend(() =>
      kube
        .watch<PodObject>("/api/v1/pods", {
          fieldSelector,
          resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: 300
        })
        .pipe(
          Stream.runForEach((event) =>
            Effect.sync(() => {
              const version = (event.object as { metadata?: { resourceVersion?: string } }).metadata
                ?.resourceVersion
              if (version) resourceVersion = version
              if (event.type === "DELETED") {
                const uid = event.object.metadata?.uid
                if (uid) markGone(uid)
              } else if (event.type !== "BOOKMARK") {
                seen(event.object)
              }
            })
          )
        )
    )

    // Watch from where we are; after an error (or a too old resourceVersion), relist first.
    yield* watch.pipe(
      Effect.catch(() => relist.pipe(Effect.ignore)),
      Effect.repeat(Schedule.spaced("100 millis")),
      Effect.forkScoped
    )

    return {
      isGone: (uid) => gone.has(uid),
      awaitGone: (uid) =>
        Effect.suspend(() => {
          if (gone.has(uid)) return Effect.void
          let deferred = waiting.get(uid)
          if (deferred === undefined) {
            deferred = Deferred.makeUnsafe<void>()
            waiting.set(uid, deferred)
          }
          return Deferred.await(deferred)
        })
    }
  })
