/**
 * Watches PodDisruptionBudgets so that an eviction a budget refused is retried the moment the budget allows a
 * disruption again, instead of after a fixed sleep (kubectl waits 5 s, whatever happens).
 *
 * A refused eviction waits in {@link BudgetTracker.awaitChance}. When a watch event shows a budget selecting the
 * pod with `disruptionsAllowed > 0`, that many waiters (oldest first) are woken; a deleted budget wakes all of
 * its waiters. A fallback timer bounds every wait, so a missed event costs at most that long.
 */
import type { V1LabelSelector, V1Pod } from "@kubernetes/client-node"
import type { KubeClient } from "@nth/kube"
import { Deferred, Duration, Effect, Exit, Schedule, type Scope, Stream } from "effect"
import { matches } from "./labelSelector.ts"

interface Budget {
  readonly namespace: string
  readonly name: string
  readonly selector: V1LabelSelector | undefined
  disruptionsAllowed: number
}

interface Waiter {
  readonly namespace: string
  readonly labels: Readonly<Record<string, string>>
  readonly wake: Deferred.Deferred<void>
}

interface BudgetObject {
  readonly metadata?: {
    readonly name?: string
    readonly namespace?: string
    readonly resourceVersion?: string
  }
  readonly spec?: { readonly selector?: V1LabelSelector }
  readonly status?: { readonly disruptionsAllowed?: number }
}

export interface BudgetTracker {
  /**
   * Waits until a budget selecting the pod may allow a disruption (or none selects it any more), or `fallback`
   * has passed. `refusedBy` is the budget the API server named in its refusal: it is known to allow nothing
   * right now, whatever the last event said.
   */
  readonly awaitChance: (pod: V1Pod, refusedBy: string | undefined) => Effect.Effect<void>
}

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`

export const makeBudgetTracker = (
  kube: KubeClient.Service,
  options: { readonly fallback: Duration.Input }
): Effect.Effect<BudgetTracker, never, Scope.Scope> =>
  Effect.gen(function* () {
    const budgets = new Map<string, Budget>()
    let waiters: Array<Waiter> = []

    const selecting = (namespace: string, labels: Readonly<Record<string, string>>) =>
      [...budgets.values()].filter((b) => b.namespace === namespace && matches(b.selector, labels))

    const wakeFor = (
      budget: Budget | undefined,
      namespace: string,
      selector: V1LabelSelector | undefined
    ) => {
      let room = budget === undefined ? Number.POSITIVE_INFINITY : budget.disruptionsAllowed
      const kept: Array<Waiter> = []
      for (const waiter of waiters) {
        if (room > 0 && waiter.namespace === namespace && matches(selector, waiter.labels)) {
          room -= 1
          Deferred.doneUnsafe(waiter.wake, Effect.void)
        } else {
          kept.push(waiter)
        }
      }
      waiters = kept
    }

    const apply = (type: string, object: BudgetObject) => {
      const namespace = object.metadata?.namespace ?? ""
      const name = object.metadata?.name ?? ""
      const key = keyOf(namespace, name)
      if (type === "DELETED") {
        const gone = budgets.get(key)
        budgets.delete(key)
        if (gone) wakeFor(undefined, namespace, gone.selector)
        return
      }
      const budget: Budget = {
        namespace,
        name,
        selector: object.spec?.selector,
        disruptionsAllowed: object.status?.disruptionsAllowed ?? 0
      }
      budgets.set(key, budget)
      if (budget.disruptionsAllowed > 0) wakeFor(budget, namespace, budget.selector)
    }

    // List, then watch from the list's resourceVersion; on any end or error, list again (which also catches
    // what happened while the watch was down).
    const ready = yield* Deferred.make<void>()
    const listAndWatch = Effect.gen(function* () {
      const list = yield* kube.call("list poddisruptionbudgets", (o) =>
        kube.policy.listPodDisruptionBudgetForAllNamespaces({}, o)
      )
      budgets.clear()
      for (const item of list.items) apply("ADDED", item as BudgetObject)
      yield* Deferred.done(ready, Exit.void)
      yield* kube
        .watch<BudgetObject>("/apis/policy/v1/poddisruptionbudgets", {
          resourceVersion: list.metadata?.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: 300
        })
        .pipe(
          Stream.runForEach((event) =>
            Effect.sync(() => event.type !== "BOOKMARK" && apply(event.type, event.object))
          )
        )
    })
    yield* listAndWatch.pipe(
      // A failed first list must not hold the waits back either (the fallback timer covers it).
      Effect.ensuring(Deferred.done(ready, Exit.void)),
      Effect.ignore,
      Effect.repeat(Schedule.spaced("200 millis")),
      Effect.forkScoped
    )
    yield* Deferred.await(ready).pipe(Effect.timeoutOption("5 seconds"))

    const fallback = Duration.fromInputUnsafe(options.fallback)
    return {
      awaitChance: (pod, refusedBy) =>
        Effect.gen(function* () {
          const namespace = pod.metadata?.namespace ?? ""
          const labels = pod.metadata?.labels ?? {}
          if (refusedBy !== undefined) {
            const refusing = budgets.get(keyOf(namespace, refusedBy))
            if (refusing) refusing.disruptionsAllowed = 0
          }
          const candidates = selecting(namespace, labels)
          if (candidates.length > 0 && candidates.every((b) => b.disruptionsAllowed > 0)) return
          const wake = yield* Deferred.make<void>()
          const waiter: Waiter = { namespace, labels, wake }
          waiters.push(waiter)
          yield* Deferred.await(wake).pipe(
            Effect.timeoutOption(fallback),
            Effect.ensuring(
              Effect.sync(() => {
                waiters = waiters.filter((w) => w !== waiter)
              })
            )
          )
        })
    }
  })
