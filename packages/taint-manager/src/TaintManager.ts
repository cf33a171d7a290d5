/**
 * The "apply" half: reads the node, computes the write with {@link NodePlan}, and sends it as a JSON Patch pinned
 * to the resourceVersion it was computed from. Taints are a list that any whole-list write would clobber, so
 * nothing is sent unguarded: if another writer changed the node in between, the server answers 409 Conflict and
 * the write is recomputed on the fresh node and sent again (bounded, exponential backoff with jitter). The same
 * happens on throttling and server errors. A write that finds nothing to do sends nothing.
 *
 * Two APIs over the same implementation: the {@link TaintManager} service (Effect; needs `KubeClient` from
 * `@nth/kube`) and {@link createTaintManager} (plain Promises, with an `AbortSignal` per call).
 *
 * @since 0.1.0
 */
import type { KubeConfig, V1Node } from "@kubernetes/client-node"
import type { NodeAction } from "@nth/events"
import { KubeClient, KubeError } from "@nth/kube"
import { Cause, Clock, Context, type Duration, Effect, Exit, Layer, Scope } from "effect"
import {
  gaveUp,
  isRetryable,
  type NodeConflict,
  type NodeNotFound,
  notFound,
  type WriteRetry,
  writeRetrySchedule
} from "./internal/errors.ts"
import { readsManagedFields } from "./internal/wholeNode.ts"
import * as NodeCondition from "./NodeCondition.ts"
import * as NodePlan from "./NodePlan.ts"
import * as NodeRecord from "./NodeRecord.ts"

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

export { NodeConflict, NodeNotFound } from "./internal/errors.ts"

/**
 * Every way a write can fail: the node is gone, it kept changing under nth, or the API call failed (`KubeError`,
 * with a closed `reason`; throttling and server errors were already retried).
 *
 * @category errors
 * @since 0.1.0
 */
export type TaintManagerError = NodeNotFound | NodeConflict | KubeError.KubeError

// ---------------------------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------------------------

/**
 * The result of a write: the plan that was (or, in a dry run, would have been) sent, and how many attempts it
 * took (1 when no other writer interfered).
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome<A> = NodePlan.Plan<A> & {
  readonly dryRun: boolean
  readonly attempts: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Target {
  readonly nodeName: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Service {
  /** Adds a taint unless one with the same key is there; records it as nth's. See {@link NodePlan.addTaint}. */
  readonly addTaint: (
    input: Target & { readonly taint: NodeAction.Taint; readonly event?: NodePlan.EventRef }
  ) => Effect.Effect<Outcome<NodePlan.TaintAdded>, TaintManagerError>
  /** Removes nth's taints (all, or those with `keys`). See {@link NodePlan.removeTaints}. */
  readonly removeTaints: (
    input: Target & { readonly keys?: ReadonlyArray<string> }
  ) => Effect.Effect<Outcome<NodePlan.TaintsRemoved>, TaintManagerError>
  /** Marks the node for uncordon after reboot. See {@link NodePlan.markUncordonAfterReboot}. */
  readonly markUncordonAfterReboot: (
    input: Target & { readonly event: NodePlan.EventRef }
  ) => Effect.Effect<Outcome<NodePlan.RebootMarked>, TaintManagerError>
  /** Sets the exclude-from-external-load-balancers label. See {@link NodePlan.excludeFromLoadBalancers}. */
  readonly excludeFromLoadBalancers: (
    input: Target & { readonly event?: NodePlan.EventRef }
  ) => Effect.Effect<Outcome<NodePlan.LoadBalancersExcluded>, TaintManagerError>
  /** Cordons and records the cordon in one write. See {@link NodePlan.cordon}. */
  readonly cordon: (
    input: Target & { readonly event?: NodePlan.EventRef }
  ) => Effect.Effect<Outcome<NodePlan.Cordoned>, TaintManagerError>
  /** Records a cordon made elsewhere. See {@link NodePlan.markCordoned}. */
  readonly markCordoned: (
    input: Target & { readonly alreadyCordoned?: boolean; readonly event?: NodePlan.EventRef }
  ) => Effect.Effect<Outcome<NodePlan.CordonRecorded>, TaintManagerError>
  /** Records the start of the drain. */
  readonly recordDrainStarted: (
    input: Target & { readonly event?: NodePlan.EventRef }
  ) => Effect.Effect<Outcome<NodePlan.DrainRecorded>, TaintManagerError>
  /** Records the end of the drain. */
  readonly recordDrained: (
    input: Target & { readonly event?: NodePlan.EventRef }
  ) => Effect.Effect<Outcome<NodePlan.DrainRecorded>, TaintManagerError>
  /**
   * Claims the node for one handler (or renews its claim) unless another holds it. See {@link NodePlan.claim}.
   *
   * @since 0.3.0
   */
  readonly claim: (
    input: Target & { readonly holder: string; readonly event?: NodePlan.EventRef; readonly leaseMs: number }
  ) => Effect.Effect<Outcome<NodePlan.Claimed>, TaintManagerError>
  /**
   * Gives up a handler's claim. See {@link NodePlan.releaseClaim}.
   *
   * @since 0.3.0
   */
  readonly releaseClaim: (
    input: Target & { readonly holder: string }
  ) => Effect.Effect<Outcome<boolean>, TaintManagerError>
  /** Undoes everything nth did to the node. See {@link NodePlan.clear}. */
  readonly clear: (
    input: Target & { readonly uncordon?: boolean }
  ) => Effect.Effect<Outcome<NodePlan.Cleared>, TaintManagerError>
  /**
   * At start-up: undoes nth's work if the node rebooted since it was marked. `now` defaults to the clock.
   * See {@link NodePlan.uncordonAfterReboot}.
   */
  readonly uncordonAfterReboot: (
    input: Target & { readonly uptimeSeconds: number; readonly now?: Date }
  ) => Effect.Effect<Outcome<NodePlan.RebootChecked>, TaintManagerError>
  /**
   * Makes any write of {@link NodePlan}, or several as one ({@link NodePlan.sequence}): read, computed, sent and
   * retried like the named operations. `operation` names it in errors and logs. `compute` must return the plans
   * NodePlan made as they are (not copies): a `clear` or `uncordonAfterReboot` plan is known by its identity to
   * need the node's managedFields, which `Options.knownNode` copies lack.
   *
   * @since 0.3.0
   */
  readonly apply: <A>(
    input: Target & { readonly operation: string; readonly compute: NodePlan.Compute<A> }
  ) => Effect.Effect<Outcome<A>, TaintManagerError>
  /** Reads nth's record of the node. */
  readonly readRecord: (input: Target) => Effect.Effect<NodeRecord.Read, NodeNotFound | KubeError.KubeError>
  /**
   * Sets the node's `TerminationHandling` condition (`nodes/status`), with this manager's dry run, field manager
   * and retries, starting from nth's own last write to the node when it has one. See {@link NodeCondition.set}.
   *
   * @since 0.5.0
   */
  readonly setCondition: (
    input: Omit<NodeCondition.SetInput, "node">
  ) => Effect.Effect<NodeCondition.Outcome, TaintManagerError>
}

/**
 * @category services
 * @since 0.1.0
 */
export class TaintManager extends Context.Service<TaintManager, Service>()(
  "@nth/taint-manager/TaintManager"
) {}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * Compute every write and send it with `dryRun=All`: the API server validates it (admission included) and
   * persists nothing. The node is still read. Outcomes say what would have been written; one dry-run write does
   * not see the previous one. Default `false`.
   */
  readonly dryRun?: boolean
  /** The field manager named on every write. Default `nth`. */
  readonly fieldManager?: string
  /**
   * How often a write refused with 409 Conflict (or throttled, or failed by the server) is recomputed and sent
   * again: up to `times` retries (default 10), waiting `base` (default 50 ms) doubled each time, with jitter,
   * capped at `cap` (default 1 s).
   */
  readonly retry?: WriteRetry
  /**
   * Where a write may find the node instead of reading it, e.g. a watch's copy (queue mode's node index): the
   * first attempt of a write starts from it when nth has no answer of its own last write to start from. Like
   * every write it is pinned to the copy's resourceVersion, so a stale copy costs a 409 and a fresh read, never
   * a wrong write. The copy must be the whole node but for `status.images` and `metadata.managedFields`; the
   * writes that read those (`clear`, `uncordonAfterReboot`, alone or in a `NodePlan.sequence` sent with `apply`)
   * always read the node.
   *
   * @since 0.3.0
   */
  readonly knownNode?: (nodeName: string) => V1Node | undefined
}

/**
 * Builds the service on the `KubeClient` in context.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Service, never, KubeClient.KubeClient> =>
  Effect.gen(function* () {
    const client = yield* KubeClient.KubeClient
    const dryRun = options.dryRun ?? false
    const fieldManager = options.fieldManager ?? NodePlan.defaultFieldManager
    const knownNode = options.knownNode
    const schedule = writeRetrySchedule(options.retry)

    const readNode = (nodeName: string): Effect.Effect<V1Node, NodeNotFound | KubeError.KubeError> =>
      client
        .call(`read node ${nodeName}`, (callOptions) => client.core.readNode({ name: nodeName }, callOptions))
        .pipe(Effect.catchTag("KubeError", notFound(nodeName)))

    // The server applies a JSON Patch to the node as it is now, and checks the resourceVersion only after: ops
    // computed on a stale node (an index past the end of the taints, a key already removed) fail with 422 before
    // the 409 can happen. If the node changed since it was read, that 422 is a conflict like any other.
    const staleOrInvalid = (
      nodeName: string,
      node: V1Node,
      error: KubeError.KubeError
    ): Effect.Effect<never, NodeNotFound | KubeError.KubeError> =>
      Effect.flatMap(readNode(nodeName), (current) =>
        Effect.fail(
          current.metadata?.resourceVersion === node.metadata?.resourceVersion
            ? error
            : new KubeError.KubeError({
                operation: error.operation,
                reason: "Conflict",
                status: 409,
                message: `the node changed since it was read (${error.message})`
              })
        )
      )

    // The node as nth's own last write left it (the API server's answer to the PATCH), per node: the next write
    // to that node starts from it instead of a GET. If anyone changed the node since, the pinned resourceVersion
    // makes the server refuse the write with 409 and the retry reads the node afresh, so this saves requests
    // without ever writing on a stale node. A node's handling is a run of writes (claim, taint, cordon, drain
    // start and end, claim release): measured with 1000 Spot notices in queue mode, the GETs were half of nth's
    // Kubernetes requests (20.7 requests per event) and the API server was the bottleneck.
    const lastWritten = new Map<string, V1Node>()
    const remember = (nodeName: string, node: V1Node | undefined) => {
      if (dryRun) return
      lastWritten.delete(nodeName)
      if (node?.metadata?.resourceVersion === undefined) return
      // The images a node lists are most of its size and no write looks at them (managedFields are kept: the
      // cordon's owner is read from them).
      lastWritten.set(
        nodeName,
        node.status?.images ? { ...node, status: { ...node.status, images: [] } } : node
      )
      // Bounded: the oldest entries go first (a Map iterates in insertion order).
      if (lastWritten.size > 5_000) {
        const oldest = lastWritten.keys().next()
        if (!oldest.done) lastWritten.delete(oldest.value)
      }
    }

    const write = <A>(
      operation: string,
      nodeName: string,
      compute: NodePlan.Compute<A>,
      options: { readonly at?: Date; readonly needsManagedFields?: boolean } = {}
    ): Effect.Effect<Outcome<A>, TaintManagerError> =>
      Effect.suspend(() => {
        const at = options.at
        // Counted per run of the returned effect, which a caller may run more than once.
        let attempts = 0
        const attempt = Effect.gen(function* () {
          attempts += 1
          // The first attempt may start from nth's own last write, or the caller's copy of the node; a retry
          // always reads afresh.
          const lastWrite = attempts === 1 ? lastWritten.get(nodeName) : undefined
          const copy =
            attempts === 1 && lastWrite === undefined && options.needsManagedFields !== true
              ? knownNode?.(nodeName)
              : undefined
          const known = lastWrite ?? copy
          let node = known ?? (yield* readNode(nodeName))
          const now = at ?? new Date(yield* Clock.currentTimeMillis)
          let planned = compute(node, now)
          // "Nothing to do" is never decided on a node that may be stale (an operator may have removed a taint),
          // and undoing is never computed on a copy without the node's managedFields.
          if (
            (planned.patch === undefined && known !== undefined) ||
            (copy !== undefined && readsManagedFields(planned))
          ) {
            node = yield* readNode(nodeName)
            planned = compute(node, now)
          }
          if (planned.patch === undefined) return planned
          // Pinning the resourceVersion makes the server refuse the patch with 409 if the node changed since it
          // was read (a JSON Patch `test` op would fail with an indistinct 422 instead).
          const body = [
            { op: "replace", path: "/metadata/resourceVersion", value: node.metadata?.resourceVersion ?? "" },
            ...planned.patch
          ]
          const written = yield* client
            .call(
              `${operation} on node ${nodeName}`,
              (callOptions) =>
                client.core.patchNode(
                  { name: nodeName, body, fieldManager, ...(dryRun ? { dryRun: "All" } : {}) },
                  callOptions
                ),
              { patch: KubeClient.PatchStrategy.JsonPatch }
            )
            .pipe(
              Effect.catchTag("KubeError", (error) => {
                lastWritten.delete(nodeName)
                return error.reason === "Invalid"
                  ? staleOrInvalid(nodeName, node, error)
                  : notFound(nodeName)(error)
              })
            )
          remember(nodeName, written)
          return planned
        })
        return attempt.pipe(
          Effect.retry({ schedule, while: isRetryable }),
          Effect.catchTag(
            "KubeError",
            gaveUp(nodeName, operation, () => attempts)
          ),
          Effect.map((planned) => ({ ...planned, dryRun, attempts }))
        )
      })

    return TaintManager.of({
      addTaint: ({ nodeName, ...input }) =>
        write("add taint", nodeName, (node, now) => NodePlan.addTaint(node, input, now)),
      removeTaints: ({ nodeName, ...input }) =>
        write("remove taints", nodeName, (node, now) => NodePlan.removeTaints(node, input, now)),
      markUncordonAfterReboot: ({ nodeName, ...input }) =>
        write("mark uncordon after reboot", nodeName, (node, now) =>
          NodePlan.markUncordonAfterReboot(node, input, now)
        ),
      excludeFromLoadBalancers: ({ nodeName, ...input }) =>
        write("exclude from load balancers", nodeName, (node, now) =>
          NodePlan.excludeFromLoadBalancers(node, input, now)
        ),
      cordon: ({ nodeName, ...input }) =>
        write("cordon", nodeName, (node, now) => NodePlan.cordon(node, input, now)),
      markCordoned: ({ nodeName, ...input }) =>
        write("record cordon", nodeName, (node, now) => NodePlan.markCordoned(node, input, now)),
      recordDrainStarted: ({ nodeName, ...input }) =>
        write("record drain start", nodeName, (node, now) => NodePlan.recordDrainStarted(node, input, now)),
      recordDrained: ({ nodeName, ...input }) =>
        write("record drain end", nodeName, (node, now) => NodePlan.recordDrained(node, input, now)),
      claim: ({ nodeName, ...input }) =>
        write("claim", nodeName, (node, now) => NodePlan.claim(node, input, now)),
      releaseClaim: ({ nodeName, ...input }) =>
        write("release claim", nodeName, (node, now) => NodePlan.releaseClaim(node, input, now)),
      clear: ({ nodeName, ...input }) =>
        write("clear", nodeName, (node, now) => NodePlan.clear(node, { ...input, fieldManager }, now), {
          needsManagedFields: true
        }),
      uncordonAfterReboot: ({ nodeName, now, ...input }) =>
        write(
          "uncordon after reboot",
          nodeName,
          (node, at) => NodePlan.uncordonAfterReboot(node, { ...input, fieldManager }, at),
          { ...(now === undefined ? {} : { at: now }), needsManagedFields: true }
        ),
      apply: ({ nodeName, operation, compute }) => write(operation, nodeName, compute),
      readRecord: ({ nodeName }) => Effect.map(readNode(nodeName), NodeRecord.read),
      setCondition: (input) =>
        NodeCondition.set(
          { ...input, node: lastWritten.get(input.nodeName) ?? knownNode?.(input.nodeName) },
          { dryRun, fieldManager, ...(options.retry === undefined ? {} : { retry: options.retry }) }
        ).pipe(
          Effect.tap((outcome) => Effect.sync(() => remember(input.nodeName, outcome.node))),
          Effect.tapError(() => Effect.sync(() => lastWritten.delete(input.nodeName))),
          Effect.provideService(KubeClient.KubeClient, client)
        )
    })
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<TaintManager, never, KubeClient.KubeClient> =>
  Layer.effect(TaintManager, make(options))

// ---------------------------------------------------------------------------------------------------------------
// Promise API
// ---------------------------------------------------------------------------------------------------------------

/**
 * @category models
 * @since 0.1.0
 */
export interface CallOptions {
  /** Aborting cancels the call (the HTTP request in flight is aborted); the promise rejects with the reason. */
  readonly signal?: AbortSignal
}

/**
 * Each operation of the {@link Service} as an `async` function taking the same input, plus {@link CallOptions}.
 *
 * @category models
 * @since 0.1.0
 */
export type PromiseOperations = { readonly [K in keyof Service]: Promised<Service[K]> }

type Promised<F> = F extends (input: infer I) => Effect.Effect<infer A, infer _E, infer _R>
  ? (input: I, options?: CallOptions) => Promise<A>
  : never

/**
 * The service's operations as `async` functions; they reject with the same tagged errors (`NodeNotFound`,
 * `NodeConflict`, `KubeError`). `close` releases the connection.
 *
 * @category models
 * @since 0.1.0
 */
export type PromiseTaintManager = PromiseOperations & {
  readonly close: () => Promise<void>
  readonly [Symbol.asyncDispose]: () => Promise<void>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface CreateOptions extends Options {
  readonly kubeConfig: KubeConfig
  /** How long one API call may take. Default 30 seconds. */
  readonly requestTimeout?: Duration.Input
}

const runPromise = async <A, E>(
  effect: Effect.Effect<A, E>,
  options: CallOptions | undefined
): Promise<A> => {
  const signal = options?.signal
  const exit = await Effect.runPromiseExit(effect, signal === undefined ? undefined : { signal })
  if (Exit.isSuccess(exit)) return exit.value
  if (signal?.aborted) throw signal.reason
  throw Cause.squash(exit.cause)
}

/**
 * The Promise API, with its own Kubernetes connection (opened on the first call, released by `close`).
 *
 * @example
 * ```ts
 * const nth = TaintManager.createTaintManager({ kubeConfig })
 * await nth.addTaint({ nodeName, taint: NodePlan.taintFor("SpotInterruptionNotice", eventId)! })
 * await nth.clear({ nodeName })
 * await nth.close()
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const createTaintManager = (options: CreateOptions): PromiseTaintManager => {
  const { kubeConfig, requestTimeout, ...managerOptions } = options
  const scope = Scope.makeUnsafe()
  const service = Effect.runSync(
    Effect.cached(
      Scope.provide(scope)(
        Effect.flatMap(
          KubeClient.make({ kubeConfig, ...(requestTimeout === undefined ? {} : { requestTimeout }) }),
          (client) => Effect.provideService(make(managerOptions), KubeClient.KubeClient, client)
        )
      )
    )
  )
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= Effect.runPromise(Scope.close(scope, Exit.void))
    return closing
  }
  const operation =
    <K extends keyof Service>(name: K) =>
    (input: unknown, callOptions?: CallOptions) =>
      runPromise(
        Effect.flatMap(service, (manager) =>
          (manager[name] as (input: unknown) => Effect.Effect<unknown, unknown>)(input)
        ),
        callOptions
      )
  const operations: { readonly [K in keyof Service]: ReturnType<typeof operation> } = {
    addTaint: operation("addTaint"),
    removeTaints: operation("removeTaints"),
    markUncordonAfterReboot: operation("markUncordonAfterReboot"),
    excludeFromLoadBalancers: operation("excludeFromLoadBalancers"),
    cordon: operation("cordon"),
    markCordoned: operation("markCordoned"),
    recordDrainStarted: operation("recordDrainStarted"),
    recordDrained: operation("recordDrained"),
    claim: operation("claim"),
    releaseClaim: operation("releaseClaim"),
    clear: operation("clear"),
    uncordonAfterReboot: operation("uncordonAfterReboot"),
    apply: operation("apply"),
    readRecord: operation("readRecord"),
    setCondition: operation("setCondition")
  }
  return { ...(operations as PromiseOperations), close, [Symbol.asyncDispose]: close }
}
