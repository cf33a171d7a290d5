/**
 * One list-then-watch loop for every cache nth keeps of the cluster (a drain's pods, the budgets, a node cache),
 * as an Effect `Stream` of {@link Signal}s that never fails and runs until interrupted:
 *
 * - `Listed { items, resourceVersion }`: the whole state, from a list (paginated with `pageSize`). It comes
 *   first, and again after every relist: an object the consumer knows but the list lacks was deleted meanwhile.
 * - `Event { type, object }`: an `ADDED`, `MODIFIED` or `DELETED` object, in the server's order.
 * - `Up`: the watch delivers again (its first event, a bookmark included, since the start or the last `Down`).
 * - `Down { error, failuresInARow }`: a list or watch attempt failed; the loop backs off and tries again. A
 *   consumer that cannot wait (credentials refused, say) decides from `error.reason` and `failuresInARow`.
 *
 * How it reconnects, and why:
 *
 * - The watch starts from the list's resourceVersion (or from `Options.resourceVersion`, for a caller that
 *   listed already), so nothing can slip between the two, and asks for bookmarks, which move the
 *   resourceVersion forward on quiet resources (they are not passed on).
 * - A watch the server ends (its `timeoutSeconds`) is resumed from the last resourceVersion seen, without a
 *   list. One that says `Gone` (410: that resourceVersion is compacted away) is followed by a relist.
 * - After any other error the loop relists: a list answers whatever happened during the outage, and the
 *   `Listed` it brings is what a consumer needs to notice the deletions it missed.
 * - Attempts that fail, or end, without a single event wait a growing, jittered delay ({@link defaultBackoff});
 *   any event starts the delays over. Nothing waits after a watch that lived a while and ended cleanly.
 * - The HTTP layer has no inactivity timer, so a connection that died without a word (no FIN) is given up
 *   30 s after the server should have ended the watch, and resumed like a clean end.
 *
 * Objects are the JSON the server sent, from lists and watches alike: timestamps are strings whatever the
 * model type says.
 *
 * @since 0.2.0
 */
import type { V1Node, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node"
import { Clock, Duration, Effect, Queue, type Schedule, Stream } from "effect"
import * as Backoff from "./internal/backoff.ts"
import type { CallOptions, Service } from "./KubeClient.ts"
import type { KubeError } from "./KubeError.ts"

/**
 * What the loop needs of an object: its resourceVersion, to resume a watch from it.
 *
 * @category models
 * @since 0.2.0
 */
export interface KubeObject {
  readonly metadata?: { readonly resourceVersion?: string | undefined } | undefined
}

/**
 * The query of a list call (client-node's names).
 *
 * @category models
 * @since 0.2.0
 */
export interface ListParams {
  readonly fieldSelector?: string
  readonly labelSelector?: string
  readonly limit?: number
  readonly _continue?: string
}

/**
 * What a list call answers. The server's JSON names the next page's token `continue`; client-node's models name
 * it `_continue`: either is followed.
 *
 * @category models
 * @since 0.2.0
 */
export interface ObjectList<A> {
  readonly items: ReadonlyArray<A>
  readonly metadata?:
    | { readonly resourceVersion?: string; readonly continue?: string; readonly _continue?: string }
    | undefined
}

/**
 * A kind of object that can be listed and watched: the path to watch and the {@link Service} call that lists
 * it (with the same selectors). `kind` names the calls in errors.
 *
 * @category models
 * @since 0.2.0
 */
export interface Resource<A extends KubeObject> {
  readonly kind: string
  readonly path: string
  readonly list: (kube: Service, params: ListParams, options: CallOptions) => Promise<ObjectList<A>>
}

/**
 * Pods, in all namespaces (narrow them with a field selector such as `spec.nodeName=<node>`).
 *
 * @category resources
 * @since 0.2.0
 */
export const pods: Resource<V1Pod> = {
  kind: "pods",
  path: "/api/v1/pods",
  list: (kube, params, options) => kube.core.listPodForAllNamespaces(params, options)
}

/**
 * Nodes (narrow them with a label selector).
 *
 * @category resources
 * @since 0.3.0
 */
export const nodes: Resource<V1Node> = {
  kind: "nodes",
  path: "/api/v1/nodes",
  list: (kube, params, options) => kube.core.listNode(params, options)
}

/**
 * PodDisruptionBudgets (`policy/v1`), in all namespaces.
 *
 * @category resources
 * @since 0.2.0
 */
export const podDisruptionBudgets: Resource<V1PodDisruptionBudget> = {
  kind: "poddisruptionbudgets",
  path: "/apis/policy/v1/poddisruptionbudgets",
  list: (kube, params, options) => kube.policy.listPodDisruptionBudgetForAllNamespaces(params, options)
}

/**
 * The whole state, from a list: the first signal, and the first after every relist.
 *
 * @category models
 * @since 0.2.0
 */
export interface Listed<A> {
  readonly _tag: "Listed"
  readonly items: ReadonlyArray<A>
  readonly resourceVersion: string | undefined
}

/**
 * One change the watch reported.
 *
 * @category models
 * @since 0.2.0
 */
export interface Event<A> {
  readonly _tag: "Event"
  readonly type: "ADDED" | "MODIFIED" | "DELETED"
  readonly object: A
}

/**
 * The watch delivers: its first event since the start or since the last {@link Down}.
 *
 * @category models
 * @since 0.2.0
 */
export interface Up {
  readonly _tag: "Up"
}

/**
 * A list or watch attempt failed with `error`, the `failuresInARow`th failure since the last event.
 *
 * @category models
 * @since 0.2.0
 */
export interface Down {
  readonly _tag: "Down"
  readonly error: KubeError
  readonly failuresInARow: number
}

/**
 * @category models
 * @since 0.2.0
 */
export type Signal<A> = Listed<A> | Event<A> | Up | Down

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  readonly fieldSelector?: string | undefined
  readonly labelSelector?: string | undefined
  /** List in pages of this many objects. Default: one page. */
  readonly pageSize?: number | undefined
  /**
   * Start by watching from this resourceVersion instead of listing: for a caller that has just listed with the
   * same selectors (no `Listed` comes first then).
   */
  readonly resourceVersion?: string | undefined
  /** The delays between attempts that fail or end without an event. Default {@link defaultBackoff}. */
  readonly backoff?: Schedule.Schedule<unknown> | undefined
  /** How long the server keeps each watch open before it ends it (and the loop resumes it). Default 300. */
  readonly timeoutSeconds?: number | undefined
}

/**
 * 250 ms, doubling, capped at 30 s (where client-go's reflector and client-node's informer stop too), each
 * delay scaled by a random factor in [0.8, 1.2] so that many watchers do not reconnect in step.
 *
 * @category constants
 * @since 0.2.0
 */
export const defaultBackoff: Schedule.Schedule<unknown> = Backoff.defaultBackoff

// A watch that lived this long before the server ended it worked: it is resumed at once, not after a delay.
const WORKED_MS = 1000

// Past the server's own timeout, how long a silent watch is trusted before its connection counts as dead.
const DEAD_CONNECTION_MARGIN_SECONDS = 30

/**
 * Lists and watches `resource`, as described in the module's documentation. Interrupting the stream's consumer
 * aborts the call or watch in flight.
 *
 * @category constructors
 * @since 0.2.0
 */
export const stream = <A extends KubeObject>(
  kube: Service,
  resource: Resource<A>,
  options: Options = {}
): Stream.Stream<Signal<A>> =>
  // Unbounded: the loop must read the watch as fast as the server writes, whatever the consumer does.
  Stream.callback<Signal<A>>((queue) =>
    loop(kube, resource, options, (signal) => {
      Queue.offerUnsafe(queue, signal)
    })
  )

const loop = <A extends KubeObject>(
  kube: Service,
  resource: Resource<A>,
  options: Options,
  emit: (signal: Signal<A>) => void
): Effect.Effect<never> =>
  Effect.gen(function* () {
    const selectors: ListParams = {
      ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}),
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {})
    }
    const described = [options.fieldSelector, options.labelSelector].filter(Boolean).join(", ")
    const operation = `list ${resource.kind}${described ? ` (${described})` : ""}`
    const timeoutSeconds = options.timeoutSeconds ?? 300
    const deadAfter = Duration.seconds(timeoutSeconds + DEAD_CONNECTION_MARGIN_SECONDS)
    // Where the next watch starts; `undefined`: list first.
    let resourceVersion = options.resourceVersion
    let up = false

    const list = Effect.gen(function* () {
      const items: Array<A> = []
      let snapshot: string | undefined
      let token: string | undefined
      do {
        const params: ListParams = {
          ...selectors,
          ...(options.pageSize ? { limit: options.pageSize } : {}),
          ...(token ? { _continue: token } : {})
        }
        const page = yield* kube.call(operation, (o) => resource.list(kube, params, o))
        items.push(...page.items)
        // Every page is served from the first page's snapshot: its resourceVersion is the list's.
        snapshot ??= page.metadata?.resourceVersion
        token = page.metadata?.continue || page.metadata?._continue || undefined
      } while (token !== undefined)
      return { items, resourceVersion: snapshot }
    })

    const session = (progressed: () => void) =>
      Effect.gen(function* () {
        if (resourceVersion === undefined) {
          const listed = yield* list
          resourceVersion = listed.resourceVersion
          emit({ _tag: "Listed", items: listed.items, resourceVersion: listed.resourceVersion })
        }
        const openedAt = yield* Clock.currentTimeMillis
        const endedCleanly = yield* kube
          .watch<A>(resource.path, {
            ...selectors,
            resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds
          })
          .pipe(
            Stream.runForEach((event) =>
              Effect.sync(() => {
                progressed()
                const version = event.object.metadata?.resourceVersion
                if (version) resourceVersion = version
                if (!up) {
                  up = true
                  emit({ _tag: "Up" })
                }
                if (event.type !== "BOOKMARK") emit({ _tag: "Event", type: event.type, object: event.object })
              })
            ),
            Effect.timeoutOption(deadAfter),
            Effect.as(true),
            // Not a failure of the connection: the data path works, only the resourceVersion is too old.
            Effect.catchIf(
              (error) => error.reason === "Gone",
              () =>
                Effect.sync(() => {
                  resourceVersion = undefined
                  return false
                })
            )
          )
        const now = yield* Clock.currentTimeMillis
        // A quiet resource's watch ends at its timeout with no event: that is no reason to wait before the next.
        if (endedCleanly && now - openedAt >= WORKED_MS) progressed()
      })

    return yield* Backoff.keepRunning(session, {
      backoff: options.backoff,
      onFailure: (error, failuresInARow) => {
        resourceVersion = undefined
        up = false
        emit({ _tag: "Down", error, failuresInARow })
      }
    })
  })
