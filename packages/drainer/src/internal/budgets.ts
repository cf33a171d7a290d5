/**
 * Watches PodDisruptionBudgets so that an eviction a budget refused is retried the moment the budget allows a
 * disruption again, instead of after a fixed sleep (kubectl waits 5 s, whatever happens).
 *
 * A refused eviction waits in {@link BudgetTracker.awaitChance}. When a watch event shows a budget selecting the
 * pod with `disruptionsAllowed > 0`, that many waiters (oldest first) are woken; a deleted budget wakes all of
 * its waiters. A fallback timer bounds every wait, so a missed event costs at most that long. The watch is
 * `ListWatch`'s: it comes back after an error with a growing backoff, relisting first.
 */
import type { V1LabelSelector, V1Pod } from "@kubernetes/client-node"
import { type KubeClient, ListWatch } from "@nth/kube"
import { Deferred, Duration, Effect, Exit, type Schedule, type Scope, Stream } from "effect"
import { matches } from "./labelSelector.ts"

interface Budget {
  readonly namespace: string
  readonly name: string
  readonly selector: V1LabelSelector | undefined
  disruptionsAllowed: number
  /** The sequence number (see {@link BudgetTracker.sequence}) of the event this state comes from. */
  readonly seenAt: number
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
  }
  readonly spec?: { readonly selector?: V1LabelSelector }
  readonly status?: { readonly disruptionsAllowed?: number }
}

export interface BudgetTracker {
  /** How many budget states (listed or watched) the tracker has seen: read it when sending an eviction. */
  readonly sequence: () => number
  /**
   * Waits until a budget selecting the pod may allow a disruption (or none selects it any more), or `fallback`
   * has passed. `refusedBy` is the budget the API server named in its refusal, and `sentAt` the
   * {@link BudgetTracker.sequence} when that eviction was sent (`undefined`: before the tracker started). The
   * refusing budget counts as allowing nothing unless a state newer than the eviction says otherwise: the
   * refusal is news only about the states the tracker had seen by then.
   */
  readonly awaitChance: (
    pod: V1Pod,
    refusedBy: string | undefined,
    sentAt: number | undefined
  ) => Effect.Effect<void>
}

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`

export const makeBudgetTracker = (
  kube: KubeClient.Service,
  options: { readonly fallback: Duration.Input; readonly backoff?: Schedule.Schedule<unknown> }
): Effect.Effect<BudgetTracker, never, Scope.Scope> =>
  Effect.gen(function* () {
    const budgets = new Map<string, Budget>()
    let waiters: Array<Waiter> = []
    let sequence = 0

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
      sequence += 1
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
        disruptionsAllowed: object.status?.disruptionsAllowed ?? 0,
        seenAt: sequence
      }
      budgets.set(key, budget)
      if (budget.disruptionsAllowed > 0) wakeFor(budget, namespace, budget.selector)
    }

    // ListWatch's Listed replaces the state (first, and after each relist); its events update it.
    const ready = yield* Deferred.make<void>()
    yield* ListWatch.stream(kube, ListWatch.podDisruptionBudgets, { backoff: options.backoff }).pipe(
      Stream.runForEach((signal) =>
        Effect.sync(() => {
          switch (signal._tag) {
            case "Listed": {
              const before = [...budgets.values()]
              budgets.clear()
              for (const item of signal.items) apply("ADDED", item)
              // Budgets deleted while the watch was down free their waiters as a DELETED event would have.
              for (const old of before)
                if (!budgets.has(keyOf(old.namespace, old.name)))
                  wakeFor(undefined, old.namespace, old.selector)
              Deferred.doneUnsafe(ready, Exit.void)
              return
            }
            case "Event": {
              apply(signal.type, signal.object)
              return
            }
            case "Down": {
              // A failed first list must not hold the waits back either (the fallback timer covers it).
              Deferred.doneUnsafe(ready, Exit.void)
              return
            }
            case "Up":
              return
          }
        })
      ),
      Effect.forkScoped
    )
    yield* Deferred.await(ready).pipe(Effect.timeoutOption("5 seconds"))

    const fallback = Duration.fromInputUnsafe(options.fallback)
    return {
      sequence: () => sequence,
      awaitChance: (pod, refusedBy, sentAt) =>
        Effect.gen(function* () {
          const namespace = pod.metadata?.namespace ?? ""
          const labels = pod.metadata?.labels ?? {}
          if (refusedBy !== undefined && sentAt !== undefined) {
            const refusing = budgets.get(keyOf(namespace, refusedBy))
            if (refusing !== undefined && refusing.seenAt <= sentAt) refusing.disruptionsAllowed = 0
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
