/**
 * Kubernetes Events on the Node for each step, with the Go handler's reasons, source and namespace, so that
 * `kubectl describe node` and event-based alerting read the same after a migration. Emitting is best effort: a
 * failed Event is a log line, never a failed action.
 *
 * Written the way Kubernetes' own event recorders write them, so that a fault repeated on every poll (IMDS down
 * on a whole fleet) does not become write load on etcd:
 * - **aggregated**: the same object, type, reason and message again is one Event whose `count` and
 *   `lastTimestamp` grow (a merge PATCH), not a new object; if the Event is gone (the API server's event TTL,
 *   an hour by default) a new one is created;
 * - **rate limited** per object and reason (a token bucket: {@link defaultRateLimit}), so that a flood of one
 *   reason never crowds out another's Events (a `MonitorError` storm cannot hide the `CordonAndDrain`). What the
 *   limit holds back is counted in `nth_kubernetes_events_suppressed_total`; the next write carries the full
 *   count, and the logs and metrics see every occurrence.
 *
 * @since 0.1.0
 */
import type { KubeClient } from "@nth/kube"
import { Clock, Effect, Semaphore } from "effect"
import type { Registry } from "./Metrics.ts"

/**
 * The object an Event is about: the Node for node actions, a Pod for `PodEviction`.
 *
 * @category models
 * @since 0.1.0
 */
export interface InvolvedObject {
  readonly kind: "Node" | "Pod"
  readonly name: string
  /** Namespaced objects only: the Event is created in that namespace (the API server requires it). */
  readonly namespace?: string | undefined
  readonly uid?: string | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface KubeEvents {
  /** An Event on a Node. */
  readonly emit: (
    nodeName: string,
    type: "Normal" | "Warning",
    reason: string,
    message: string
  ) => Effect.Effect<void>
  /** An Event on any object, with annotations added to the configured extra ones. */
  readonly emitFor: (
    object: InvolvedObject,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
    annotations?: Readonly<Record<string, string>>
  ) => Effect.Effect<void>
}

/**
 * Writes allowed per object and reason: `burst` at once, then one every `refillMs`. The figures are client-go's
 * event spam filter's (a burst of 25, then one every 5 minutes).
 *
 * @category models
 * @since 0.1.0
 */
export interface RateLimit {
  readonly burst: number
  readonly refillMs: number
}

/**
 * @category constants
 * @since 0.1.0
 */
export const defaultRateLimit: RateLimit = { burst: 25, refillMs: 5 * 60_000 }

const component = "aws-node-termination-handler"

/** Events remembered for aggregation (client-go's recorder keeps 4096 too); the oldest is forgotten first. */
const cacheSize = 4096

interface Aggregate {
  /** The Event object's name, once created. */
  name: string | undefined
  /** Occurrences seen, written or not. */
  count: number
  firstTimestamp: Date
  readonly lock: Semaphore.Semaphore
}

interface Bucket {
  tokens: number
  refilledAt: number
}

/** Remembers at most `size` entries, forgetting the least recently used. */
const touch = <A>(map: Map<string, A>, key: string, make: () => A, size: number): A => {
  const found = map.get(key)
  if (found !== undefined) map.delete(key)
  const entry = found ?? make()
  map.set(key, entry)
  if (map.size > size) map.delete(map.keys().next().value as string)
  return entry
}

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** Whether Events are written at all (`EMIT_KUBERNETES_EVENTS`, and never in a dry run). */
  readonly enabled: boolean
  /** Annotations on every Event (`KUBERNETES_EVENTS_EXTRA_ANNOTATIONS`). */
  readonly extraAnnotations?: Readonly<Record<string, string>>
  /** The Events' source host and reporting instance: the Go handler puts its own `NODE_NAME` there. */
  readonly reportingInstance: string
  /** Where held-back Events are counted. */
  readonly metrics?: Registry
  /** Default {@link defaultRateLimit}. */
  readonly rateLimit?: RateLimit
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (kube: KubeClient.Service, options: Options): KubeEvents => {
  const rateLimit = options.rateLimit ?? defaultRateLimit
  const aggregates = new Map<string, Aggregate>()
  const buckets = new Map<string, Bucket>()

  const take = (key: string, now: number): boolean => {
    const bucket = touch(buckets, key, () => ({ tokens: rateLimit.burst, refilledAt: now }), cacheSize)
    const refills = Math.floor((now - bucket.refilledAt) / rateLimit.refillMs)
    if (refills > 0) {
      bucket.tokens = Math.min(rateLimit.burst, bucket.tokens + refills)
      bucket.refilledAt += refills * rateLimit.refillMs
    }
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  const emitFor: KubeEvents["emitFor"] = (object, type, reason, message, annotations = {}) =>
    !options.enabled
      ? Effect.void
      : Effect.gen(function* () {
          const now = new Date(yield* Clock.currentTimeMillis)
          const text = message.trim()
          // Node events go to `default`, as the Go handler's; an Event about a pod lives in the pod's namespace.
          const namespace = object.namespace ?? "default"
          const objectKey = [object.kind, namespace, object.name, object.uid ?? ""].join("/")
          const aggregate = touch(
            aggregates,
            JSON.stringify([objectKey, type, reason, text, annotations]),
            () => ({ name: undefined, count: 0, firstTimestamp: now, lock: Semaphore.makeUnsafe(1) }),
            cacheSize
          )
          aggregate.count += 1
          if (!take(`${objectKey}/${reason}`, now.getTime())) {
            options.metrics?.kubernetesEventsSuppressed.increment({ reason })
            return yield* Effect.logDebug(`${reason} event held back by the rate limit`).pipe(
              Effect.annotateLogs({ occurrences: aggregate.count })
            )
          }
          const create = Effect.gen(function* () {
            aggregate.firstTimestamp = now
            const created = yield* kube.call(`emit event ${reason}`, (o) =>
              kube.core.createNamespacedEvent(
                {
                  namespace,
                  body: {
                    metadata: {
                      generateName: `${object.name}.`,
                      namespace,
                      annotations: { ...options.extraAnnotations, ...annotations }
                    },
                    involvedObject: {
                      kind: object.kind,
                      name: object.name,
                      apiVersion: "v1",
                      ...(object.namespace === undefined ? {} : { namespace: object.namespace }),
                      ...(object.uid === undefined ? {} : { uid: object.uid })
                    },
                    reason,
                    message: text,
                    type,
                    source: { component, host: options.reportingInstance },
                    firstTimestamp: now,
                    lastTimestamp: now,
                    count: aggregate.count,
                    reportingComponent: component,
                    reportingInstance: options.reportingInstance
                  }
                },
                o
              )
            )
            aggregate.name = created.metadata?.name
          })
          // One write at a time per Event: a repeat waits for the create, then patches what it created.
          yield* aggregate.lock.withPermit(
            Effect.suspend(() => {
              const name = aggregate.name
              if (name === undefined) return create
              return kube
                .call(`update event ${reason}`, (o) =>
                  kube.core.patchNamespacedEvent(
                    { name, namespace, body: { count: aggregate.count, lastTimestamp: now } },
                    o
                  )
                )
                .pipe(
                  Effect.asVoid,
                  Effect.catchIf(
                    (error) => error.reason === "NotFound",
                    () =>
                      Effect.suspend(() => {
                        // Expired (event TTL) or deleted: the count starts again on a new Event.
                        aggregate.count = 1
                        return create
                      })
                  )
                )
            })
          )
        }).pipe(
          Effect.catch((error) => Effect.logWarning(`could not emit the ${reason} event: ${error.message}`))
        )
  return {
    emit: (nodeName, type, reason, message) =>
      emitFor({ kind: "Node", name: nodeName }, type, reason, message),
    emitFor
  }
}
