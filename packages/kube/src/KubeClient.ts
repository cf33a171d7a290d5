/**
 * Kubernetes access for nth's libraries, over `@kubernetes/client-node`.
 *
 * client-node builds a new TLS agent for every request (a full handshake each time) and has neither request
 * timeouts nor cancellation. `KubeClient` fixes the three in one place: every call goes through one keep-alive
 * undici agent, is aborted when its fiber is interrupted, times out, and fails with a {@link KubeError}.
 *
 * @since 0.1.0
 */

import type { RequestOptions } from "node:https"
import {
  AppsV1Api,
  type ConfigurationOptions,
  CoreV1Api,
  type KubeConfig,
  Observable,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  Watch
} from "@kubernetes/client-node"
import { Cause, Context, Duration, Effect, Layer, Queue, type Scope, Stream } from "effect"
import { Agent } from "undici"
import { fromUnknown, KubeError } from "./KubeError.ts"

/**
 * One event of a watch. `object` is the plain JSON the server sent (timestamps are strings).
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
export interface Service {
  readonly kubeConfig: KubeConfig
  readonly core: CoreV1Api
  readonly policy: PolicyV1Api
  readonly apps: AppsV1Api
  /**
   * Runs one API call. `run` receives the options to pass as the generated method's last argument (they carry
   * the shared connection and the abort signal); `operation` names the call in errors and logs.
   */
  readonly call: <A>(
    operation: string,
    run: (options: ConfigurationOptions) => Promise<A>,
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
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly kubeConfig: KubeConfig
  /** How long one call may take. Default 30 seconds. */
  readonly requestTimeout?: Duration.Input
}

// The TLS material of the current cluster and user, for one long-lived agent. Behind a proxy, client-node's
// own per-request dispatcher stays in charge.
const sharedAgent = async (kubeConfig: KubeConfig): Promise<Agent | undefined> => {
  if (kubeConfig.getCurrentCluster()?.proxyUrl) return undefined
  const tls: RequestOptions = {}
  await kubeConfig.applyToHTTPSOptions(tls)
  return new Agent({
    connect: {
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls.key === undefined ? {} : { key: tls.key }),
      ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
      keepAlive: true,
      keepAliveInitialDelay: 30_000
    },
    keepAliveTimeout: 60_000,
    connections: 32
  })
}

/**
 * Builds a client; its connection is closed when the scope ends.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { kubeConfig } = options
    const timeout = Duration.fromInputUnsafe(options.requestTimeout ?? "30 seconds")
    const agent = yield* Effect.acquireRelease(
      Effect.promise(() => sharedAgent(kubeConfig).catch(() => undefined)),
      (agent) => (agent ? Effect.promise(() => agent.close()) : Effect.void)
    )
    let requests = 0
    const watcher = new Watch(kubeConfig)

    const optionsFor = (signal: AbortSignal, patch: PatchStrategy | undefined): ConfigurationOptions => {
      const connection = {
        pre: (context: Parameters<NonNullable<ConfigurationOptions["middleware"]>[number]["pre"]>[0]) => {
          if (agent) context.setDispatcher(agent)
          context.setSignal(signal)
          return new Observable(Promise.resolve(context))
        },
        post: (context: Parameters<NonNullable<ConfigurationOptions["middleware"]>[number]["post"]>[0]) =>
          new Observable(Promise.resolve(context))
      }
      const base: ConfigurationOptions = { middleware: [connection], middlewareMergeStrategy: "append" }
      return patch === undefined ? base : setHeaderOptions("Content-Type", patch, base)
    }

    const call: Service["call"] = (operation, run, callOptions) =>
      Effect.tryPromise({
        try: (signal) => {
          requests += 1
          return run(optionsFor(signal, callOptions?.patch))
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
          Effect.tryPromise({
            try: () => {
              requests += 1
              const query = Object.fromEntries(
                Object.entries(params).filter(([, value]) => value !== undefined)
              )
              return watcher.watch(
                path,
                query,
                (type, object) => {
                  if (type === "ERROR") {
                    const code = (object as { code?: number }).code
                    Queue.failCauseUnsafe(
                      queue,
                      Cause.fail(
                        new KubeError({
                          operation: `watch ${path}`,
                          reason: code === 410 ? "Gone" : "Unknown",
                          ...(code === undefined ? {} : { status: code }),
                          message: (object as { message?: string }).message ?? "watch error"
                        })
                      )
                    )
                    return
                  }
                  Queue.offerUnsafe(queue, { type: type as WatchEvent["type"], object: object as A })
                },
                (error) => {
                  if (error === null || error === undefined) Queue.endUnsafe(queue)
                  else Queue.failCauseUnsafe(queue, Cause.fail(fromUnknown(`watch ${path}`, error)))
                }
              )
            },
            catch: (error) => fromUnknown(`watch ${path}`, error)
          }),
          (controller) => Effect.sync(() => controller.abort())
        )
      )

    return KubeClient.of({
      kubeConfig,
      core: kubeConfig.makeApiClient(CoreV1Api),
      policy: kubeConfig.makeApiClient(PolicyV1Api),
      apps: kubeConfig.makeApiClient(AppsV1Api),
      call,
      watch,
      requestCount: () => requests
    })
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<KubeClient> => Layer.effect(KubeClient, make(options))

export { PatchStrategy }
