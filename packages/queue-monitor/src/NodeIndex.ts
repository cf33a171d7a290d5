/**
 * Which Kubernetes node is an EC2 instance's: the cluster's nodes, kept by one list and one watch
 * (`ListWatch` of `@nth/kube`) and indexed by instance id (from `spec.providerID`, `aws:///<zone>/<instance
 * id>`) and by name, so that finding the node of a queue message's instance costs no API call.
 *
 * Two rules, as in the Go handler:
 *
 * - by name (the default): the node whose `kubernetes.io/hostname` label is the instance's private DNS name,
 *   else the one whose label is that name up to its first dot, else the one named so (EKS names nodes after
 *   the private DNS name). Unlike the Go handler, a node whose provider id names another instance is never the
 *   answer: private IP addresses, and so private DNS names, are reused, and the Node of a terminated instance
 *   may still be around under the name of a new one.
 * - by provider id (`useProviderId`, the Go handler's `USE_PROVIDER_ID=true`): the node whose provider id
 *   names the instance, whatever its name.
 *
 * A lookup made before the first list arrived waits for it (at most `syncTimeout`, then fails with
 * `NotSynced`): an empty cache never answers "not found". After that, lookups answer from the cache, which the
 * watch keeps current (and a relist after an outage corrects).
 *
 * What is kept of a node is what the API server sent except `status.images` and `metadata.managedFields`,
 * most of a node's size: the node's conditions (its readiness: {@link isReady}), labels, taints and spec are
 * there.
 *
 * @since 0.1.0
 */
import type { V1Node } from "@kubernetes/client-node"
import { KubeClient, ListWatch } from "@nth/kube"
import { Context, Deferred, Duration, Effect, Layer, type Schedule, Schema, type Scope, Stream } from "effect"

/**
 * What a lookup is given: the instance and its private DNS name (`""` when it has none), as
 * `InstanceInfo.describe` returns them.
 *
 * @category models
 * @since 0.1.0
 */
export interface Key {
  readonly instanceId: string
  readonly privateDnsName: string
}

/**
 * Why the index could not answer. `NotSynced`: the first list of the nodes did not arrive within
 * `syncTimeout`; `message` carries the last error of the list or watch, if any (a 403 says the service account
 * may not list nodes).
 *
 * @category models
 * @since 0.1.0
 */
export const Reason = Schema.Literals(["NotSynced"])

/**
 * @category models
 * @since 0.1.0
 */
export type Reason = typeof Reason.Type

/**
 * @category errors
 * @since 0.1.0
 */
export class NodeIndexError extends Schema.TaggedError<NodeIndexError>()("NodeIndexError", {
  reason: Reason,
  message: Schema.String
}) {}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Find nodes by provider id rather than by name (the Go handler's `USE_PROVIDER_ID`). Default `false`. */
  readonly useProviderId?: boolean | undefined
  /** How long a lookup waits for the first list of the nodes. Default 10 s. */
  readonly syncTimeout?: Duration.Input | undefined
  /** Keep only the nodes with these labels. Default: all. */
  readonly labelSelector?: string | undefined
  /** List in pages of this many nodes. Default 500. */
  readonly pageSize?: number | undefined
  /** The delays between failed list or watch attempts. Default `ListWatch.defaultBackoff`. */
  readonly backoff?: Schedule.Schedule<unknown> | undefined
  /** How long the server keeps each watch open. Default 300 s. */
  readonly timeoutSeconds?: number | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Service {
  /**
   * The instance's node by the index's rule, `undefined` when the cluster has none. Waits for the first list of
   * the nodes.
   */
  readonly lookup: (key: Key) => Effect.Effect<V1Node | undefined, NodeIndexError>
  /** Succeeds once the first list of the nodes arrived (waits at most `syncTimeout`). */
  readonly synced: Effect.Effect<void, NodeIndexError>
  /** How many nodes the index holds. */
  readonly size: () => number
  /**
   * The node of that name as last listed or watched, without its `status.images` and `metadata.managedFields`;
   * `undefined` when unknown (or before the first list). What the taint manager's writes may start from
   * (`TaintManager.Options.knownNode`) instead of reading the node.
   *
   * @since 0.3.0
   */
  readonly byName: (nodeName: string) => V1Node | undefined
  /**
   * Every node the index holds, as {@link byName} gives them (e.g. to find, at start, the nodes whose record asks
   * for work later).
   *
   * @since 0.5.0
   */
  readonly all: () => ReadonlyArray<V1Node>
  /**
   * Whether the index follows the API server: ready once the nodes are listed, not ready while its list or watch
   * attempts fail (the reason names the last error), for a readiness probe.
   *
   * @since 0.3.0
   */
  readonly health: () => { readonly ready: boolean; readonly reason?: string | undefined }
}

/**
 * @category services
 * @since 0.1.0
 */
export class NodeIndex extends Context.Service<NodeIndex, Service>()("@nth/queue-monitor/NodeIndex") {}

const hostnameLabel = "kubernetes.io/hostname"
const eksctlInstanceIdLabel = "alpha.eksctl.io/instance-id"
const instanceIdPattern = /^i-[0-9a-f]+$/

/**
 * The instance a node runs on: the last segment of an `aws://` provider id (`aws:///us-east-1a/i-0123…`), else
 * eksctl's `alpha.eksctl.io/instance-id` label; `undefined` for a node that is no EC2 instance (Fargate, another
 * cloud).
 *
 * @category accessors
 * @since 0.1.0
 */
export const instanceIdOf = (node: V1Node): string | undefined => {
  const providerId = node.spec?.providerID
  if (providerId?.startsWith("aws://")) {
    const last = providerId.slice(providerId.lastIndexOf("/") + 1)
    if (instanceIdPattern.test(last)) return last
  }
  const label = node.metadata?.labels?.[eksctlInstanceIdLabel]
  return label !== undefined && instanceIdPattern.test(label) ? label : undefined
}

/**
 * Whether the node's `Ready` condition is `True`.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isReady = (node: V1Node): boolean =>
  node.status?.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True") ===
  true

// What is kept of a node: all but the lists of images and field managers.
const trim = (node: V1Node): V1Node => {
  const { managedFields: _managedFields, ...metadata } = node.metadata ?? {}
  if (node.status === undefined) return { ...node, metadata }
  const { images: _images, ...status } = node.status
  return { ...node, metadata, status }
}

const addTo = (index: Map<string, Set<string>>, key: string | undefined, name: string) => {
  if (key === undefined) return
  const names = index.get(key)
  if (names === undefined) index.set(key, new Set([name]))
  else names.add(name)
}

const removeFrom = (index: Map<string, Set<string>>, key: string | undefined, name: string) => {
  if (key === undefined) return
  const names = index.get(key)
  names?.delete(name)
  if (names?.size === 0) index.delete(key)
}

/** The nodes by name, and their names by instance id and by hostname label. */
class Index {
  private readonly nodes = new Map<string, V1Node>()
  private readonly byInstanceId = new Map<string, Set<string>>()
  private readonly byHostname = new Map<string, Set<string>>()

  get size() {
    return this.nodes.size
  }

  replaceAll(items: ReadonlyArray<V1Node>) {
    this.nodes.clear()
    this.byInstanceId.clear()
    this.byHostname.clear()
    for (const node of items) this.put(node)
  }

  put(node: V1Node) {
    const name = node.metadata?.name
    if (name === undefined) return
    this.remove(name)
    const kept = trim(node)
    this.nodes.set(name, kept)
    addTo(this.byInstanceId, instanceIdOf(kept), name)
    addTo(this.byHostname, kept.metadata?.labels?.[hostnameLabel], name)
  }

  remove(name: string | undefined) {
    if (name === undefined) return
    const node = this.nodes.get(name)
    if (node === undefined) return
    this.nodes.delete(name)
    removeFrom(this.byInstanceId, instanceIdOf(node), name)
    removeFrom(this.byHostname, node.metadata?.labels?.[hostnameLabel], name)
  }

  private first(names: Iterable<string> | undefined, accept: (node: V1Node) => boolean) {
    for (const name of names ?? []) {
      const node = this.nodes.get(name)
      if (node !== undefined && accept(node)) return node
    }
    return undefined
  }

  byName(name: string): V1Node | undefined {
    return this.nodes.get(name)
  }

  all(): ReadonlyArray<V1Node> {
    return [...this.nodes.values()]
  }

  byProviderId(instanceId: string): V1Node | undefined {
    return this.first(this.byInstanceId.get(instanceId), () => true)
  }

  byDnsName({ instanceId, privateDnsName }: Key): V1Node | undefined {
    if (privateDnsName === "") return undefined
    // A node that says it runs on another instance is that instance's, whatever its name.
    const accept = (node: V1Node) => {
      const runsOn = instanceIdOf(node)
      return runsOn === undefined || instanceId === "" || runsOn === instanceId
    }
    const dot = privateDnsName.indexOf(".")
    return (
      this.first(this.byHostname.get(privateDnsName), accept) ??
      (dot > 0 ? this.first(this.byHostname.get(privateDnsName.slice(0, dot)), accept) : undefined) ??
      this.first([privateDnsName], accept)
    )
  }
}

/**
 * Starts the list and watch of the nodes; they run until the scope ends. Returns at once: lookups wait for the
 * first list.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: Options = {}
): Effect.Effect<Service, never, KubeClient.KubeClient | Scope.Scope> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient.KubeClient
    const syncTimeout = Duration.fromInputUnsafe(options.syncTimeout ?? "10 seconds")
    const index = new Index()
    const listed = yield* Deferred.make<void>()
    let isSynced = false
    let lastDown: ListWatch.Down | undefined

    yield* ListWatch.stream(kube, ListWatch.nodes, {
      labelSelector: options.labelSelector,
      pageSize: options.pageSize ?? 500,
      backoff: options.backoff,
      timeoutSeconds: options.timeoutSeconds
    }).pipe(
      Stream.runForEach((signal) =>
        Effect.suspend(() => {
          switch (signal._tag) {
            case "Listed":
              lastDown = undefined
              index.replaceAll(signal.items)
              if (isSynced) return Effect.void
              isSynced = true
              return Deferred.succeed(listed, undefined)
            case "Event":
              if (signal.type === "DELETED") index.remove(signal.object.metadata?.name)
              else index.put(signal.object)
              return Effect.void
            case "Up":
              lastDown = undefined
              return Effect.void
            case "Down":
              lastDown = signal
              return Effect.void
          }
        })
      ),
      Effect.forkScoped
    )

    const synced: Effect.Effect<void, NodeIndexError> = Effect.suspend(() =>
      isSynced
        ? Effect.void
        : Deferred.await(listed).pipe(
            Effect.timeoutOrElse({
              duration: syncTimeout,
              orElse: () =>
                Effect.fail(
                  new NodeIndexError({
                    reason: "NotSynced",
                    message: `the nodes were not listed within ${Duration.format(syncTimeout)}${
                      lastDown === undefined
                        ? ""
                        : `; the last of ${lastDown.failuresInARow} attempts failed: ${lastDown.error.message}`
                    }`
                  })
                )
            })
          )
    )

    return NodeIndex.of({
      lookup: (key) =>
        synced.pipe(
          Effect.map(() =>
            options.useProviderId ? index.byProviderId(key.instanceId) : index.byDnsName(key)
          )
        ),
      synced,
      size: () => index.size,
      byName: (nodeName) => index.byName(nodeName),
      all: () => index.all(),
      health: () =>
        lastDown !== undefined
          ? {
              ready: false,
              reason: `the API server: ${lastDown.failuresInARow} list or watch attempts failed in a row, the last: ${lastDown.error.message}`
            }
          : isSynced
            ? { ready: true }
            : { ready: false, reason: "the nodes are not listed yet" }
    })
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<NodeIndex, never, KubeClient.KubeClient> =>
  Layer.effect(NodeIndex, make(options))
