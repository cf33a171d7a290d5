/**
 * Cordon and drain Kubernetes nodes, as `kubectl drain` does, from a program.
 *
 * - `cordon` / `uncordon` set `spec.unschedulable` with a patch that touches nothing else.
 * - `drain` cordons the node (unless told not to), lists its pods, decides about each with kubectl's rules
 *   ({@link PodFilter}), refuses up front
 *   (naming every pod and reason) when a rule forbids the drain, then evicts through the Eviction API and waits
 *   until each pod is really gone, returning a {@link DrainReport.DrainReport}.
 *
 * Where it does better than kubectl: an eviction a PodDisruptionBudget refused is retried as soon as the budget
 * allows one (a watch, not a 5 s sleep); deletion is awaited through one watch, by UID; critical pods go in a
 * last wave; pods may make their own choices by annotation ({@link Options.podAnnotations}); a `deadline` caps every pod's grace period so that it ends before the instance does; evictions are
 * bounded in concurrency; and every pod's story is in the report.
 *
 * Two APIs over one implementation: Effect (`Drainer` service, `drain`, typed errors, interruptible) and
 * Promise (`createDrainer`, with an `AbortSignal`).
 *
 * @since 0.1.0
 */
import type { KubeConfig } from "@kubernetes/client-node"
import { KubeClient, type KubeError } from "@nth/kube"
import { Cause, Context, type Duration, Effect, Exit, Layer, Schema, Scope } from "effect"
import * as Deadline from "./Deadline.ts"
import type { DrainReport, PodReport, Progress } from "./DrainReport.ts"
import { setUnschedulable } from "./internal/cordon.ts"
import { type ResolvedOptions, run } from "./internal/drain.ts"
import type * as PodFilter from "./PodFilter.ts"

// ---------------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------------

/**
 * What a drain may do and how. Names and meanings follow `kubectl drain`'s flags; defaults are kubectl's CLI
 * defaults (not the zero values of its Go library, which would kill pods with grace 0).
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * Cordon the node before listing its pods, as `kubectl drain` does, so that nothing new lands on it meanwhile.
   * Default `true`. A failed cordon fails the drain (kubectl only prints it). In a client dry run nothing is
   * sent; in a server dry run the cordon is sent with `dryRun=All`. `false` for callers that cordon the node
   * themselves.
   */
  readonly cordon?: boolean
  /** Also remove pods no controller manages, and pods whose DaemonSet is gone (`--force`). Default `false`. */
  readonly force?: boolean
  /** Leave DaemonSet pods in place instead of refusing the drain (`--ignore-daemonsets`). Default `false`. */
  readonly ignoreDaemonSets?: boolean
  /** Remove pods with `emptyDir` volumes, losing that data (`--delete-emptydir-data`). Default `false`. */
  readonly deleteEmptyDirData?: boolean
  /**
   * Grace period for every pod, in seconds (`--grace-period`). `-1` (default): each pod's own
   * `terminationGracePeriodSeconds`. `0` deletes at once.
   */
  readonly gracePeriodSeconds?: number
  /** Give up after this many seconds (`--timeout`). `0` (default): wait forever (or until `deadline`). */
  readonly timeoutSeconds?: number
  /** Only pods matching this label selector (`--pod-selector`). */
  readonly podSelector?: string
  /** Delete pods instead of evicting them, bypassing PodDisruptionBudgets (`--disable-eviction`). */
  readonly disableEviction?: boolean
  /**
   * Leave pods still terminating more than this many seconds after their deletion time
   * (`--skip-wait-for-delete-timeout`): pods already so when the drain starts are skipped, and pods that
   * become so while the drain waits for them stop being waited for (outcome `Skipped`, reason
   * `DeletedLongAgo`). `0` (default): wait for them.
   */
  readonly skipWaitForDeleteTimeoutSeconds?: number
  /** Page size when listing the node's pods (`--chunk-size`). Default 500; `0`: one list. */
  readonly chunkSize?: number
  /**
   * `client`: decide and report, send nothing. `server`: send every write with `dryRun=All` (budgets are
   * checked by the server, nothing changes). Default `none`.
   */
  readonly dryRun?: "none" | "client" | "server"
  /** Eviction requests in flight at once. Default 25 (kubectl sends all at once). */
  readonly concurrency?: number
  /**
   * Pods of these priority classes are evicted in a last wave, after every other pod is gone (with the pods a
   * rule marked evict-last, see {@link podAnnotations}). Default `["system-cluster-critical",
   * "system-node-critical"]`.
   */
  readonly criticalPriorityClasses?: ReadonlyArray<string>
  /**
   * When the node goes away (e.g. a Spot interruption's termination time). Each pod's grace period is capped
   * to end `deadlineMarginSeconds` before it (at least 1 s). From `deadlineMarginSeconds` before the deadline
   * on (also when the deadline is that close, or past, when the drain starts), every pod not yet evicted gets
   * one eviction at once, with the minimum grace, whatever waves and budgets say; the drain then waits for the
   * pods to go until the deadline and gives up there: pods still standing then (a budget that never allowed their
   * eviction, say) fail the drain with {@link EvictionBlocked} or {@link DrainTimeout}, never a success.
   *
   * A {@link Deadline.Deadline} instead of a `Date` can be moved earlier while the drain runs (a second notice for
   * the same node): later evictions get the shorter grace, and pods already terminating whose grace would outlive
   * the new deadline are evicted once more with a shorter one (progress `PodEvictedAgain`, counted in the report's
   * `reEvictions`). No other pod ever gets a second eviction once one was accepted.
   */
  readonly deadline?: Date | Deadline.Deadline
  /** Default 5. */
  readonly deadlineMarginSeconds?: number
  /**
   * Longest wait before retrying an eviction a budget refused, should no budget change be seen. Default 5 s.
   */
  readonly budgetRetryFallback?: Duration.Input
  /**
   * Let each pod make its own drain choices by annotation ({@link PodFilter.annotations}). Default `false`: the
   * annotations are ignored.
   *
   * - `nth.aws/do-not-evict: "true"`: the pod is never evicted or deleted (outcome `Skipped`, reason
   *   `DoNotEvict`, and a `PodSkipped` progress event); it stops with the node. Checked before kubectl's rules,
   *   so it wins over their refusals (a pod without a controller needs no `force` to be left alone).
   * - `nth.aws/evict-last: "true"`: the pod goes in the last wave, with the critical pods (`WaveStarted` with
   *   `wave: "critical"`).
   * - `nth.aws/drain-grace-period-seconds: "<seconds>"`: the pod's grace period, over `gracePeriodSeconds` and
   *   the pod's own `terminationGracePeriodSeconds`. A `deadline` still caps it.
   *
   * `true` / `false` are read case-insensitively; any other value (a grace that is not a non-negative integer)
   * is ignored, with a warning in the pod's report. To honour only some of them, leave this off and pass
   * {@link PodFilter.doNotEvict}, {@link PodFilter.evictLast} or {@link PodFilter.annotatedGracePeriod} in
   * `additionalFilters` (there `doNotEvict` runs after kubectl's rules: their refusals come first).
   *
   * @since 0.5.0
   */
  readonly podAnnotations?: boolean
  /**
   * Extra rules, run after kubectl's (and after the annotation rules of {@link podAnnotations}); see
   * {@link PodFilter}.
   */
  readonly additionalFilters?: ReadonlyArray<PodFilter.PodFilter>
  /**
   * Called for every step of the drain (pod evicted, blocked by a budget, gone, …). What it throws is ignored:
   * a failing callback does not stop the drain.
   */
  readonly onProgress?: (event: Progress) => void
}

/**
 * The defaults, as {@link Options} documents them.
 *
 * @category constructors
 * @since 0.1.0
 */
export const resolveOptions = (options: Options = {}): ResolvedOptions => ({
  cordon: options.cordon ?? true,
  force: options.force ?? false,
  ignoreDaemonSets: options.ignoreDaemonSets ?? false,
  deleteEmptyDirData: options.deleteEmptyDirData ?? false,
  gracePeriodSeconds: options.gracePeriodSeconds ?? -1,
  timeoutSeconds: options.timeoutSeconds ?? 0,
  podSelector: options.podSelector,
  disableEviction: options.disableEviction ?? false,
  skipWaitForDeleteTimeoutSeconds: options.skipWaitForDeleteTimeoutSeconds ?? 0,
  chunkSize: options.chunkSize ?? 500,
  dryRun: options.dryRun ?? "none",
  concurrency: options.concurrency ?? 25,
  criticalPriorityClasses: options.criticalPriorityClasses ?? [
    "system-cluster-critical",
    "system-node-critical"
  ],
  deadline: Deadline.from(options.deadline),
  deadlineMarginSeconds: options.deadlineMarginSeconds ?? 5,
  budgetRetryFallback: options.budgetRetryFallback ?? "5 seconds",
  podAnnotations: options.podAnnotations ?? false,
  additionalFilters: options.additionalFilters ?? [],
  onProgress: options.onProgress ?? (() => {})
})

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

// At most 10 names, so that a node of 110 pods still gives a readable message.
const podList = (pods: ReadonlyArray<PodReport>) => {
  const names = pods.slice(0, 10).map((p) => `${p.namespace}/${p.name} (${p.outcome.toLowerCase()})`)
  return pods.length > 10 ? `${names.join(", ")} and ${pods.length - 10} more` : names.join(", ")
}

const groupByMessage = (pods: ReadonlyArray<PodReport>) => {
  const groups = new Map<string, Array<string>>()
  for (const pod of pods) {
    const key = pod.message ?? pod.error ?? pod.outcome
    groups.set(key, [...(groups.get(key) ?? []), `${pod.namespace}/${pod.name}`])
  }
  return [...groups].map(([message, names]) => `${message}: ${names.join(", ")}`).join("; ")
}

/**
 * The rules refuse the drain; nothing was evicted. Every refused pod is listed with its reason.
 *
 * @category errors
 * @since 0.1.0
 */
export class DrainRefused extends Schema.TaggedError<DrainRefused>()("DrainRefused", {
  node: Schema.String,
  message: Schema.String,
  refusals: Schema.Array(
    Schema.Struct({ namespace: Schema.String, name: Schema.String, reason: Schema.String })
  ),
  report: Schema.Any
}) {}

/**
 * The drain ran out of time (`timeoutSeconds` or `deadline`) while PodDisruptionBudgets still refused some
 * evictions: those pods are still running on the node.
 *
 * @category errors
 * @since 0.1.0
 */
export class EvictionBlocked extends Schema.TaggedError<EvictionBlocked>()("EvictionBlocked", {
  node: Schema.String,
  message: Schema.String,
  budgets: Schema.Array(Schema.String),
  /** The pods whose evictions the budgets refused to the end (the message also names those still terminating). */
  pods: Schema.Array(Schema.Struct({ namespace: Schema.String, name: Schema.String })),
  report: Schema.Any
}) {}

/**
 * The drain ran out of time while pods were still terminating (or waiting for their turn).
 *
 * @category errors
 * @since 0.1.0
 */
export class DrainTimeout extends Schema.TaggedError<DrainTimeout>()("DrainTimeout", {
  node: Schema.String,
  message: Schema.String,
  /** The pods still terminating or not evicted yet. */
  pods: Schema.Array(Schema.Struct({ namespace: Schema.String, name: Schema.String })),
  report: Schema.Any
}) {}

/**
 * Some pods could not be evicted for a reason waiting does not fix (e.g. more than one budget selects them);
 * the others were drained.
 *
 * @category errors
 * @since 0.1.0
 */
export class EvictionFailed extends Schema.TaggedError<EvictionFailed>()("EvictionFailed", {
  node: Schema.String,
  message: Schema.String,
  report: Schema.Any
}) {}

/**
 * @category errors
 * @since 0.1.0
 */
export type DrainError = DrainRefused | EvictionBlocked | DrainTimeout | EvictionFailed | KubeError.KubeError

// ---------------------------------------------------------------------------------------------------------------
// Effect API
// ---------------------------------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface CordonResult {
  /** False when the node already was in the asked state (nothing was sent). */
  readonly changed: boolean
}

/**
 * Cordons (see {@link Options.cordon}) and drains a node. Interrupting it stops new evictions (the node stays
 * cordoned; pods already evicted go on terminating).
 *
 * @category draining
 * @since 0.1.0
 */
export const drain = (
  nodeName: string,
  options: Options = {}
): Effect.Effect<DrainReport, DrainError, KubeClient.KubeClient> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient.KubeClient
    const ending = yield* run(kube, nodeName, resolveOptions(options))
    switch (ending._tag) {
      case "Done":
        return ending.report
      case "Refused":
        return yield* new DrainRefused({
          node: nodeName,
          message: `cannot drain node ${nodeName}: ${groupByMessage(ending.refusals)}`,
          refusals: ending.refusals.map((p) => ({
            namespace: p.namespace,
            name: p.name,
            reason: p.reason ?? ""
          })),
          report: ending.report
        })
      case "Failed":
        return yield* new EvictionFailed({
          node: nodeName,
          message: `some pods of node ${nodeName} could not be evicted: ${groupByMessage(
            ending.report.pods.filter((p) => p.outcome === "Failed")
          )}`,
          report: ending.report
        })
      case "TimedOut": {
        const blocked = ending.report.pods.filter((p) => p.outcome === "Blocked")
        const pending = ending.report.pods.filter(
          (p) => p.outcome === "Terminating" || p.outcome === "Pending"
        )
        const standing = `${blocked.length + pending.length} pods still on it: ${podList([...blocked, ...pending])}`
        if (blocked.length > 0) {
          const budgets = [...new Set(blocked.flatMap((p) => p.blockedBy))]
          return yield* new EvictionBlocked({
            node: nodeName,
            message: `timed out draining node ${nodeName}, evictions refused by PodDisruptionBudget ${budgets.join(", ") || "(unnamed)"}; ${standing}`,
            budgets,
            pods: blocked.map((p) => ({ namespace: p.namespace, name: p.name })),
            report: ending.report
          })
        }
        return yield* new DrainTimeout({
          node: nodeName,
          message: `timed out draining node ${nodeName}; ${standing}`,
          pods: pending.map((p) => ({ namespace: p.namespace, name: p.name })),
          report: ending.report
        })
      }
    }
  })

/**
 * Marks the node unschedulable. Idempotent: a cordoned node is left as it is (`changed: false`).
 *
 * @category cordoning
 * @since 0.1.0
 */
export const cordon = (
  nodeName: string,
  options: { readonly dryRun?: boolean } = {}
): Effect.Effect<CordonResult, KubeError.KubeError, KubeClient.KubeClient> =>
  Effect.gen(function* () {
    return yield* setUnschedulable(yield* KubeClient.KubeClient, nodeName, true, options.dryRun ?? false)
  })

/**
 * Marks the node schedulable again. Idempotent.
 *
 * @category cordoning
 * @since 0.1.0
 */
export const uncordon = (
  nodeName: string,
  options: { readonly dryRun?: boolean } = {}
): Effect.Effect<CordonResult, KubeError.KubeError, KubeClient.KubeClient> =>
  Effect.gen(function* () {
    return yield* setUnschedulable(yield* KubeClient.KubeClient, nodeName, false, options.dryRun ?? false)
  })

/**
 * The drainer as a service, for programs that wire their dependencies as layers.
 *
 * @category services
 * @since 0.1.0
 */
export class Drainer extends Context.Service<
  Drainer,
  {
    readonly drain: (nodeName: string, options?: Options) => Effect.Effect<DrainReport, DrainError>
    readonly cordon: (
      nodeName: string,
      options?: { readonly dryRun?: boolean }
    ) => Effect.Effect<CordonResult, KubeError.KubeError>
    readonly uncordon: (
      nodeName: string,
      options?: { readonly dryRun?: boolean }
    ) => Effect.Effect<CordonResult, KubeError.KubeError>
  }
>()("@nth/drainer/Drainer") {}

/**
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Drainer, never, KubeClient.KubeClient> = Layer.effect(
  Drainer,
  Effect.gen(function* () {
    const kube = yield* KubeClient.KubeClient
    const provide = Effect.provideService(KubeClient.KubeClient, kube)
    return Drainer.of({
      drain: (nodeName, options) => provide(drain(nodeName, options)),
      cordon: (nodeName, options) => provide(cordon(nodeName, options)),
      uncordon: (nodeName, options) => provide(uncordon(nodeName, options))
    })
  })
)

// ---------------------------------------------------------------------------------------------------------------
// Promise API
// ---------------------------------------------------------------------------------------------------------------

/**
 * The drainer for code that does not use Effect. Errors are the same classes as the Effect API's (`DrainRefused`,
 * `EvictionBlocked`, `DrainTimeout`, `EvictionFailed`, `KubeError`), thrown; an aborted `signal` rejects with
 * the signal's reason and stops new evictions. After `close()` every call rejects with a {@link DrainerClosed}.
 *
 * @category models
 * @since 0.1.0
 */
export interface PromiseDrainer {
  readonly drain: (
    nodeName: string,
    options?: Options & { readonly signal?: AbortSignal }
  ) => Promise<DrainReport>
  readonly cordon: (
    nodeName: string,
    options?: { readonly dryRun?: boolean; readonly signal?: AbortSignal }
  ) => Promise<CordonResult>
  readonly uncordon: (
    nodeName: string,
    options?: { readonly dryRun?: boolean; readonly signal?: AbortSignal }
  ) => Promise<CordonResult>
  /** Closes the drainer's connection; the drainer cannot be used afterwards. */
  readonly close: () => Promise<void>
}

/**
 * Thrown by a {@link PromiseDrainer}'s calls after its `close()`.
 *
 * @category errors
 * @since 0.1.0
 */
export class DrainerClosed extends Schema.TaggedError<DrainerClosed>()("DrainerClosed", {
  message: Schema.String
}) {}

/**
 * @category constructors
 * @since 0.1.0
 */
export const createDrainer = (options: {
  readonly kubeConfig: KubeConfig
  readonly requestTimeout?: Duration.Input
}): PromiseDrainer => {
  const scope = Scope.makeUnsafe()
  let closed = false
  // Built on first use and shared; a build that failed is forgotten, so that the next call tries again.
  let client: Promise<KubeClient.Service> | undefined
  const connected = () => {
    if (client === undefined) {
      const building = Effect.runPromiseExit(Scope.provide(scope)(KubeClient.make(options))).then((exit) => {
        if (Exit.isSuccess(exit)) return exit.value
        if (client === building) client = undefined
        throw Cause.squash(exit.cause)
      })
      client = building
    }
    return client
  }
  const runWith = async <A, E>(
    effect: Effect.Effect<A, E, KubeClient.KubeClient>,
    signal: AbortSignal | undefined
  ): Promise<A> => {
    if (closed)
      throw new DrainerClosed({ message: "the drainer is closed; create another with createDrainer" })
    const kube = await connected()
    const exit = await Effect.runPromiseExit(
      Effect.provideService(effect, KubeClient.KubeClient, kube),
      signal ? { signal } : undefined
    )
    if (Exit.isSuccess(exit)) return exit.value
    if (signal?.aborted) throw signal.reason
    throw Cause.squash(exit.cause)
  }
  return {
    drain: (nodeName, { signal, ...drainOptions } = {}) => runWith(drain(nodeName, drainOptions), signal),
    cordon: (nodeName, { signal, ...rest } = {}) => runWith(cordon(nodeName, rest), signal),
    uncordon: (nodeName, { signal, ...rest } = {}) => runWith(uncordon(nodeName, rest), signal),
    close: () => {
      closed = true
      return Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}
