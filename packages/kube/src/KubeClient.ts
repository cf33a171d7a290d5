/**
 * Kubernetes access for nth's libraries.
 *
 * The calls nth makes, with client-node's names and request shapes (`core.readNode({ name })`,
 * `core.createNamespacedPodEviction({ name, namespace, body })`, …) and client-node's model types, over a small
 * HTTP layer of its own: one keep-alive connection, cancellation when a fiber is interrupted, a timeout on every
 * call, failures as {@link KubeError}, watches as streams. client-node is only a source of types here (and of
 * credentials, when a `KubeConfig` is passed in): its generated API costs ~80 MB of memory per process, more
 * than a DaemonSet pod on every node should spend.
 *
 * @since 0.1.0
 */
import type {
  CoreV1Event,
  V1DaemonSet,
  V1Eviction,
  V1Node,
  V1NodeList,
  V1Pod,
  V1PodDisruptionBudgetList,
  V1PodList
} from "@kubernetes/client-node"
import { Cause, Context, Duration, Effect, Layer, Queue, type Scope, Stream } from "effect"
import * as Http from "./internal/http.ts"
import { fromEnvironment } from "./internal/kubeconfig.ts"
import { fromUnknown, KubeConfigError, KubeError } from "./KubeError.ts"

/**
 * The content types of the three patch flavours the API server takes.
 *
 * @category constants
 * @since 0.1.0
 */
export const PatchStrategy = {
  JsonPatch: "application/json-patch+json",
  MergePatch: "application/merge-patch+json",
  StrategicMergePatch: "application/strategic-merge-patch+json"
} as const

/**
 * @category models
 * @since 0.1.0
 */
export type PatchStrategy = (typeof PatchStrategy)[keyof typeof PatchStrategy]

/**
 * What {@link Service.call} hands to each API method: the abort signal and, for patches, the content type.
 *
 * @category models
 * @since 0.1.0
 */
export interface CallOptions {
  readonly signal?: AbortSignal
  readonly contentType?: string
}

type Query = { readonly [key: string]: string | number | boolean | undefined }

interface ListQuery {
  readonly fieldSelector?: string
  readonly labelSelector?: string
  readonly limit?: number
  readonly _continue?: string
  readonly resourceVersion?: string
}

const listQuery = (params: ListQuery): Query => ({
  fieldSelector: params.fieldSelector,
  labelSelector: params.labelSelector,
  limit: params.limit,
  continue: params._continue,
  resourceVersion: params.resourceVersion
})

/**
 * What a patch of a node (or of its status) takes.
 *
 * @category models
 * @since 0.5.0
 */
export interface NodePatchParams {
  readonly name: string
  readonly body: unknown
  readonly dryRun?: string
  readonly fieldManager?: string
}

/**
 * The API calls nth makes, named and shaped as in client-node.
 *
 * @category models
 * @since 0.1.0
 */
export interface Api {
  readonly core: {
    readonly readNode: (params: { readonly name: string }, options?: CallOptions) => Promise<V1Node>
    readonly patchNode: (params: NodePatchParams, options?: CallOptions) => Promise<V1Node>
    /**
     * A patch of the node's status subresource (`PATCH /api/v1/nodes/{name}/status`): its conditions, which a
     * patch of the node itself cannot change. A JSON Patch unless the call's options say otherwise; conditions
     * are merged by `type` only in a strategic merge patch (`{ patch: PatchStrategy.StrategicMergePatch }`), a
     * JSON merge patch replaces the whole list.
     *
     * @since 0.5.0
     */
    readonly patchNodeStatus: (params: NodePatchParams, options?: CallOptions) => Promise<V1Node>
    /** The cluster's nodes (`GET /api/v1/nodes`), with the list query (selectors, pages, resourceVersion). */
    readonly listNode: (params: ListQuery, options?: CallOptions) => Promise<V1NodeList>
    readonly listPodForAllNamespaces: (params: ListQuery, options?: CallOptions) => Promise<V1PodList>
    readonly createNamespacedPodEviction: (
      params: {
        readonly name: string
        readonly namespace: string
        readonly body: V1Eviction
        readonly dryRun?: string
      },
      options?: CallOptions
    ) => Promise<unknown>
    readonly deleteNamespacedPod: (
      params: {
        readonly name: string
        readonly namespace: string
        readonly gracePeriodSeconds?: number
        readonly dryRun?: string
        readonly body?: unknown
      },
      options?: CallOptions
    ) => Promise<V1Pod>
    readonly createNamespacedEvent: (
      params: { readonly namespace: string; readonly body: CoreV1Event },
      options?: CallOptions
    ) => Promise<CoreV1Event>
    /** A JSON merge patch of an Event (how recorders bump `count` and `lastTimestamp` of a repeated Event). */
    readonly patchNamespacedEvent: (
      params: { readonly name: string; readonly namespace: string; readonly body: unknown },
      options?: CallOptions
    ) => Promise<CoreV1Event>
  }
  readonly policy: {
    readonly listPodDisruptionBudgetForAllNamespaces: (
      params: ListQuery,
      options?: CallOptions
    ) => Promise<V1PodDisruptionBudgetList>
  }
  readonly apps: {
    readonly readNamespacedDaemonSet: (
      params: { readonly name: string; readonly namespace: string },
      options?: CallOptions
    ) => Promise<V1DaemonSet>
  }
}

/**
 * One event of a watch. `object` is the JSON the server sent (timestamps are strings).
 *
 * @category models
 * @since 0.1.0
 */
export interface WatchEvent<A = unknown> {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"
  readonly object: A
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Service extends Api {
  /**
   * Runs one API call. `run` receives the options to pass as the API method's last argument (they carry the abort
   * signal and the patch content type); `operation` names the call in errors and logs.
   */
  readonly call: <A>(
    operation: string,
    run: (options: CallOptions) => Promise<A>,
    callOptions?: { readonly patch?: PatchStrategy }
  ) => Effect.Effect<A, KubeError>
  /**
   * Watches an API path (e.g. `/api/v1/pods`) from `params.resourceVersion`. The stream ends when the server
   * closes the watch and fails with `Gone` when the resourceVersion is too old.
   */
  readonly watch: <A = unknown>(
    path: string,
    params: Readonly<Record<string, string | number | boolean | undefined>>
  ) => Stream.Stream<WatchEvent<A>, KubeError>
  /** How many API requests this client has sent (watches count once): for benchmarks and metrics. */
  readonly requestCount: () => number
}

/**
 * @category services
 * @since 0.1.0
 */
export class KubeClient extends Context.Service<KubeClient, Service>()("@nth/kube/KubeClient") {}

/**
 * Where the cluster is: a client-node `KubeConfig` (any auth it supports), or nothing to read the environment
 * as `kubectl` would (`KUBECONFIG`, else the pod's service account, else `~/.kube/config`; tokens and client
 * certificates).
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly kubeConfig?: Http.KubeConfigLike
  /** How long one call may take. Default 30 seconds. */
  readonly requestTimeout?: Duration.Input
}

const makeApi = (connection: Http.Connection): Api => {
  const get = <A>(path: string, query: Query, options?: CallOptions) =>
    Http.request(connection, { method: "GET", path, query, signal: options?.signal }) as Promise<A>
  const write = <A>(
    method: string,
    path: string,
    body: unknown,
    query: Query,
    options?: CallOptions,
    contentType?: string
  ) =>
    Http.request(connection, {
      method,
      path,
      query,
      body,
      ...((options?.contentType ?? contentType)
        ? { contentType: (options?.contentType ?? contentType)! }
        : {}),
      signal: options?.signal
    }) as Promise<A>
  const segment = encodeURIComponent
  // The node, or its status subresource (`/status`).
  const patchNodeAt = (
    subresource: string,
    { name, body, dryRun, fieldManager }: NodePatchParams,
    options: CallOptions | undefined
  ): Promise<V1Node> =>
    write(
      "PATCH",
      `/api/v1/nodes/${segment(name)}${subresource}`,
      body,
      { dryRun, fieldManager },
      options,
      PatchStrategy.JsonPatch
    )
  return {
    core: {
      readNode: ({ name }, options) => get(`/api/v1/nodes/${segment(name)}`, {}, options),
      patchNode: (params, options) => patchNodeAt("", params, options),
      patchNodeStatus: (params, options) => patchNodeAt("/status", params, options),
      listNode: (params, options) => get("/api/v1/nodes", listQuery(params), options),
      listPodForAllNamespaces: (params, options) => get("/api/v1/pods", listQuery(params), options),
      createNamespacedPodEviction: ({ name, namespace, body, dryRun }, options) =>
        write(
          "POST",
          `/api/v1/namespaces/${segment(namespace)}/pods/${segment(name)}/eviction`,
          body,
          { dryRun },
          options
        ),
      deleteNamespacedPod: ({ name, namespace, gracePeriodSeconds, dryRun, body }, options) =>
        write(
          "DELETE",
          `/api/v1/namespaces/${segment(namespace)}/pods/${segment(name)}`,
          body,
          { gracePeriodSeconds, dryRun },
          options
        ),
      createNamespacedEvent: ({ namespace, body }, options) =>
        write("POST", `/api/v1/namespaces/${segment(namespace)}/events`, body, {}, options),
      patchNamespacedEvent: ({ name, namespace, body }, options) =>
        write(
          "PATCH",
          `/api/v1/namespaces/${segment(namespace)}/events/${segment(name)}`,
          body,
          {},
          options,
          PatchStrategy.MergePatch
        )
    },
    policy: {
      listPodDisruptionBudgetForAllNamespaces: (params, options) =>
        get("/apis/policy/v1/poddisruptionbudgets", listQuery(params), options)
    },
    apps: {
      readNamespacedDaemonSet: ({ name, namespace }, options) =>
        get(`/apis/apps/v1/namespaces/${segment(namespace)}/daemonsets/${segment(name)}`, {}, options)
    }
  }
}

// One line a person can act on: which file, and what is wrong with it (no stack).
const describeConfigError = (error: unknown): string => {
  const code = (error as { code?: unknown }).code
  const path = (error as { path?: unknown }).path
  if (code === "ENOENT" && typeof path === "string") return `the kubeconfig ${path} does not exist`
  if (code === "EACCES" && typeof path === "string")
    return `the kubeconfig ${path} cannot be read (permission denied)`
  const message = error instanceof Error ? error.message : String(error)
  return `cannot load the Kubernetes configuration: ${message.split("\n")[0]}`
}

/**
 * Builds a client; its connections are closed when the scope ends. Fails with a {@link KubeConfigError} when no
 * connection can be built from the configuration.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Service, KubeConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const timeout = Duration.fromInputUnsafe(options.requestTimeout ?? "30 seconds")
    const connection = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          options.kubeConfig ? Http.fromKubeConfig(options.kubeConfig) : Promise.resolve(fromEnvironment()),
        catch: (error) => new KubeConfigError({ message: describeConfigError(error) })
      }),
      (connection) => Effect.sync(() => connection.agent.destroy())
    )
    let requests = 0

    const call: Service["call"] = (operation, run, callOptions) =>
      Effect.tryPromise({
        try: (signal) => {
          requests += 1
          return run({ signal, ...(callOptions?.patch ? { contentType: callOptions.patch } : {}) })
        },
        catch: (error) => fromUnknown(operation, error)
      }).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              new KubeError({
                operation,
                reason: "Timeout",
                message: `no answer in ${Duration.format(timeout)}`
              })
            )
        })
      )

    const watch: Service["watch"] = <A>(
      path: string,
      params: Readonly<Record<string, string | number | boolean | undefined>>
    ) =>
      Stream.callback<WatchEvent<A>, KubeError>((queue) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            requests += 1
            const controller = new AbortController()
            const fail = (error: KubeError) => Queue.failCauseUnsafe(queue, Cause.fail(error))
            Http.watch(connection, {
              path,
              query: params,
              signal: controller.signal,
              onEvent: (type, object) => {
                if (type === "ERROR") {
                  const code = (object as { code?: number }).code
                  fail(
                    new KubeError({
                      operation: `watch ${path}`,
                      reason: code === 410 ? "Gone" : "Unknown",
                      ...(code === undefined ? {} : { status: code }),
                      message: (object as { message?: string }).message ?? "watch error"
                    })
                  )
                  return
                }
                Queue.offerUnsafe(queue, { type: type as WatchEvent["type"], object: object as A })
              }
            }).then(
              () => Queue.endUnsafe(queue),
              (error) => {
                if (!controller.signal.aborted) fail(fromUnknown(`watch ${path}`, error))
              }
            )
            return controller
          }),
          (controller) => Effect.sync(() => controller.abort())
        )
      )

    return KubeClient.of({ ...makeApi(connection), call, watch, requestCount: () => requests })
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<KubeClient, KubeConfigError> =>
  Layer.effect(KubeClient, make(options))
