/**
 * The drain itself: list → decide → (refuse | dry run | evict in waves) → wait until gone → report.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { type KubeClient, KubeError } from "@nth/kube"
import { Clock, Duration, Effect, Option, Semaphore } from "effect"
import type { DrainReport, PodRef, PodReport, Progress } from "../DrainReport.ts"
import * as PodFilter from "../PodFilter.ts"
import { makeBudgetTracker } from "./budgets.ts"
import { planGrace } from "./grace.ts"
import { makePodTracker } from "./pods.ts"

/** The drain's options with every default filled in (see `Drainer.Options` for their meaning). */
export interface ResolvedOptions {
  readonly force: boolean
  readonly ignoreDaemonSets: boolean
  readonly deleteEmptyDirData: boolean
  readonly gracePeriodSeconds: number
  readonly timeoutSeconds: number
  readonly podSelector: string | undefined
  readonly disableEviction: boolean
  readonly skipWaitForDeleteTimeoutSeconds: number
  readonly chunkSize: number
  readonly dryRun: "none" | "client" | "server"
  readonly concurrency: number
  readonly criticalPriorityClasses: ReadonlyArray<string>
  readonly deadline: Date | undefined
  readonly deadlineMarginSeconds: number
  readonly budgetRetryFallback: Duration.Input
  readonly additionalFilters: ReadonlyArray<PodFilter.PodFilter>
  readonly onProgress: (event: Progress) => void
}

export type Ending =
  | { readonly _tag: "Done"; readonly report: DrainReport }
  | { readonly _tag: "Refused"; readonly report: DrainReport; readonly refusals: ReadonlyArray<PodReport> }
  | { readonly _tag: "TimedOut"; readonly report: DrainReport }
  | { readonly _tag: "Failed"; readonly report: DrainReport }

interface PodState {
  readonly ref: PodRef
  readonly pod: V1Pod
  readonly decision: PodFilter.Decision
  method: PodReport["method"]
  outcome: PodReport["outcome"]
  attempts: number
  blockedBy: Set<string>
  gracePeriodSeconds: number | undefined
  gracePeriodShortened: boolean
  evictedAt: number | undefined
  goneAt: number | undefined
  error: string | undefined
}

const refOf = (pod: V1Pod): PodRef => ({
  namespace: pod.metadata?.namespace ?? "",
  name: pod.metadata?.name ?? "",
  uid: pod.metadata?.uid ?? ""
})

const budgetNameFrom = (error: KubeError.KubeError): string | undefined => {
  const cause = error.causes?.find((c) => c.reason === "DisruptionBudget")
  return cause?.message ? /disruption budget (\S+)/.exec(cause.message)?.[1] : undefined
}

const isBudgetRefusal = (error: KubeError.KubeError) =>
  error.reason === "TooManyRequests" && error.causes?.some((c) => c.reason === "DisruptionBudget") === true

// The API server answers 500, with no reason, when several budgets select a pod: waiting cannot fix that.
const isMultipleBudgets = (error: KubeError.KubeError) =>
  error.status === 500 && /more than one PodDisruptionBudget/i.test(error.message)

const isNamespaceTerminating = (error: KubeError.KubeError) =>
  error.reason === "Forbidden" && error.causes?.some((c) => c.reason === "NamespaceTerminating") === true

const isTransient = (error: KubeError.KubeError) => KubeError.isTransient(error) && !isMultipleBudgets(error)

const listPods = (kube: KubeClient.Service, nodeName: string, options: ResolvedOptions) =>
  Effect.gen(function* () {
    const pods: Array<V1Pod> = []
    let resourceVersion: string | undefined
    let token: string | undefined
    do {
      const page = yield* kube.call(`list pods on node ${nodeName}`, (o) =>
        kube.core.listPodForAllNamespaces(
          {
            fieldSelector: `spec.nodeName=${nodeName}`,
            ...(options.podSelector ? { labelSelector: options.podSelector } : {}),
            ...(options.chunkSize > 0 ? { limit: options.chunkSize } : {}),
            ...(token ? { _continue: token } : {})
          },
          o
        )
      )
      pods.push(...page.items)
      resourceVersion ??= page.metadata?.resourceVersion
      token = page.metadata?._continue || undefined
    } while (token !== undefined)
    return { pods, resourceVersion }
  })

// One GET per DaemonSet (kubectl does one per pod).
const lookUpDaemonSets = (kube: KubeClient.Service, pods: ReadonlyArray<V1Pod>) =>
  Effect.gen(function* () {
    const wanted = new Map<string, { namespace: string; name: string }>()
    for (const pod of pods) {
      const controller = PodFilter.controllerOf(pod)
      if (controller?.kind === "DaemonSet" && !PodFilter.isFinished(pod)) {
        const namespace = pod.metadata?.namespace ?? ""
        wanted.set(`${namespace}/${controller.name}`, { namespace, name: controller.name })
      }
    }
    const found = new Map<string, boolean | string>()
    yield* Effect.forEach(
      [...wanted],
      ([key, { namespace, name }]) =>
        kube
          .call(`read daemonset ${key}`, (o) => kube.apps.readNamespacedDaemonSet({ name, namespace }, o))
          .pipe(
            Effect.map((): boolean | string => true),
            Effect.catch((error) => Effect.succeed(error.reason === "NotFound" ? false : error.message)),
            Effect.tap((exists) => Effect.sync(() => found.set(key, exists)))
          ),
      { concurrency: 10, discard: true }
    )
    return (namespace: string, name: string) => found.get(`${namespace}/${name}`) ?? false
  })

const reportOf = (
  nodeName: string,
  states: ReadonlyArray<PodState>,
  startedAt: number,
  now: number,
  apiRequests: number
): DrainReport => ({
  node: nodeName,
  startedAt: new Date(startedAt),
  durationMs: now - startedAt,
  apiRequests,
  pods: states.map((s) => {
    const verdict = s.decision.verdict
    return {
      ...s.ref,
      outcome: s.outcome,
      method: s.method,
      ...(verdict._tag === "Skip" || verdict._tag === "Refuse"
        ? { reason: verdict.reason, message: verdict.message }
        : {}),
      warnings: s.decision.warnings,
      attempts: s.attempts,
      blockedBy: [...s.blockedBy],
      ...(s.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: s.gracePeriodSeconds }),
      gracePeriodShortened: s.gracePeriodShortened,
      ...(s.evictedAt === undefined ? {} : { evictedAfterMs: s.evictedAt - startedAt }),
      ...(s.goneAt === undefined ? {} : { goneAfterMs: s.goneAt - startedAt }),
      ...(s.error === undefined ? {} : { error: s.error })
    }
  })
})

export const run = (
  kube: KubeClient.Service,
  nodeName: string,
  options: ResolvedOptions
): Effect.Effect<Ending, KubeError.KubeError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const startedAt = yield* Clock.currentTimeMillis
      const requestsAtStart = kube.requestCount()
      const { pods, resourceVersion } = yield* listPods(kube, nodeName, options)
      const daemonSetExists = yield* lookUpDaemonSets(kube, pods)
      const context: PodFilter.Context = {
        force: options.force,
        ignoreDaemonSets: options.ignoreDaemonSets,
        deleteEmptyDirData: options.deleteEmptyDirData,
        skipWaitForDeleteTimeoutSeconds: options.skipWaitForDeleteTimeoutSeconds,
        now: startedAt,
        daemonSetExists
      }
      const filters = [...PodFilter.builtIn, ...options.additionalFilters]
      const states: Array<PodState> = pods.map((pod) => {
        const decision = PodFilter.decide(pod, filters, context)
        const removing = decision.verdict._tag === "Remove" || decision.verdict._tag === "RemoveWithWarning"
        return {
          ref: refOf(pod),
          pod,
          decision,
          method: !removing
            ? "none"
            : options.disableEviction || PodFilter.isFinished(pod)
              ? "delete"
              : "evict",
          outcome:
            decision.verdict._tag === "Skip"
              ? "Skipped"
              : decision.verdict._tag === "Refuse"
                ? "Refused"
                : "Pending",
          attempts: 0,
          blockedBy: new Set(),
          gracePeriodSeconds: undefined,
          gracePeriodShortened: false,
          evictedAt: undefined,
          goneAt: undefined,
          error: undefined
        }
      })
      const report = () =>
        Clock.currentTimeMillis.pipe(
          Effect.map((now) =>
            reportOf(nodeName, states, startedAt, now, kube.requestCount() - requestsAtStart)
          )
        )

      // Every refusal at once, before anything is touched.
      const refused = states.filter((s) => s.outcome === "Refused")
      if (refused.length > 0) {
        const final = yield* report()
        return { _tag: "Refused", report: final, refusals: final.pods.filter((p) => p.outcome === "Refused") }
      }

      const removing = states.filter((s) => s.method !== "none")
      if (options.dryRun === "client") {
        for (const s of removing) s.outcome = "WouldRemove"
        return { _tag: "Done", report: yield* report() }
      }

      const dryRun = options.dryRun === "server"
      const tracker = dryRun ? undefined : yield* makePodTracker(kube, nodeName, { pods, resourceVersion })
      // Started on the first refusal by a budget: a drain no budget slows down never pays for the watch.
      const budgets = yield* Effect.cached(makeBudgetTracker(kube, { fallback: options.budgetRetryFallback }))
      const requests = yield* Semaphore.make(Math.max(1, options.concurrency))
      const deadline = options.deadline?.getTime()

      const send = (state: PodState, now: number) => {
        const { namespace, name, uid } = state.ref
        const grace = planGrace(
          state.pod,
          {
            gracePeriodSeconds: options.gracePeriodSeconds,
            ...(deadline === undefined ? {} : { deadline }),
            deadlineMarginMs: options.deadlineMarginSeconds * 1000
          },
          now
        )
        state.gracePeriodSeconds = grace.seconds
        state.gracePeriodShortened = grace.shortened
        state.attempts += 1
        if (state.attempts === 1) {
          options.onProgress({
            _tag: "PodEvicting",
            pod: state.ref,
            ...(grace.seconds === undefined ? {} : { gracePeriodSeconds: grace.seconds })
          })
        }
        const deleteOptions = {
          ...(grace.seconds === undefined ? {} : { gracePeriodSeconds: grace.seconds }),
          // A same-name replacement is not the pod we decided about: the server answers 409 for it.
          preconditions: { uid },
          ...(dryRun ? { dryRun: ["All"] } : {})
        }
        const call =
          state.method === "evict"
            ? kube.call(`evict pod ${namespace}/${name}`, (o) =>
                kube.core.createNamespacedPodEviction(
                  {
                    name,
                    namespace,
                    body: {
                      apiVersion: "policy/v1",
                      kind: "Eviction",
                      metadata: { name, namespace },
                      deleteOptions
                    }
                  },
                  o
                )
              )
            : kube.call(`delete pod ${namespace}/${name}`, (o) =>
                kube.core.deleteNamespacedPod(
                  {
                    name,
                    namespace,
                    ...(grace.seconds === undefined ? {} : { gracePeriodSeconds: grace.seconds }),
                    ...(dryRun ? { dryRun: "All" } : {}),
                    body: deleteOptions
                  },
                  o
                )
              )
        return Semaphore.withPermit(requests)(call)
      }

      const gone = (state: PodState) =>
        Effect.gen(function* () {
          state.outcome = "Gone"
          state.goneAt = yield* Clock.currentTimeMillis
          options.onProgress({ _tag: "PodGone", pod: state.ref })
        })

      // A pod already shutting down (evicted by an earlier run, say) is only waited for, unless it would outlive
      // the deadline: then it is evicted again, with the shorter grace.
      const alreadyTerminating = (state: PodState) => {
        const deletion = state.pod.metadata?.deletionTimestamp
        if (deletion === undefined || dryRun || tracker === undefined) return false
        return (
          deadline === undefined ||
          new Date(deletion).getTime() <= deadline - options.deadlineMarginSeconds * 1000
        )
      }

      const remove = (state: PodState) =>
        Effect.gen(function* () {
          if (alreadyTerminating(state)) {
            state.outcome = "Terminating"
            yield* tracker!.awaitGone(state.ref.uid)
            return yield* gone(state)
          }
          let transientFailures = 0
          for (;;) {
            const now = yield* Clock.currentTimeMillis
            const result = yield* Effect.result(send(state, now))
            if (result._tag === "Success") {
              state.evictedAt = now
              if (dryRun) {
                state.outcome = "Accepted"
                return
              }
              options.onProgress({
                _tag: state.method === "evict" ? "PodEvicted" : "PodDeleted",
                pod: state.ref
              })
              state.outcome = "Terminating"
              yield* tracker!.awaitGone(state.ref.uid)
              return yield* gone(state)
            }
            const error = result.failure
            if (error.reason === "NotFound" || error.reason === "Conflict") return yield* gone(state)
            if (isBudgetRefusal(error)) {
              const budget = budgetNameFrom(error)
              const fresh = budget === undefined || !state.blockedBy.has(budget)
              if (budget) state.blockedBy.add(budget)
              state.outcome = "Blocked"
              if (fresh)
                options.onProgress({ _tag: "PodBlocked", pod: state.ref, budget, message: error.message })
              yield* (yield* budgets).awaitChance(state.pod, budget)
              continue
            }
            if (isNamespaceTerminating(error)) {
              if (state.pod.metadata?.deletionTimestamp !== undefined && tracker) {
                state.outcome = "Terminating"
                yield* tracker.awaitGone(state.ref.uid)
                return yield* gone(state)
              }
              yield* Effect.sleep("1 second")
              continue
            }
            if (isTransient(error)) {
              transientFailures += 1
              const delay =
                error.retryAfterSeconds !== undefined && error.retryAfterSeconds > 0
                  ? Duration.seconds(Math.min(error.retryAfterSeconds, 10))
                  : Duration.millis(Math.min(200 * 2 ** Math.min(transientFailures, 5), 5000))
              yield* Effect.sleep(delay)
              continue
            }
            state.outcome = "Failed"
            state.error = error.message
            options.onProgress({ _tag: "PodFailed", pod: state.ref, error: error.message })
            return
          }
        })

      const isCritical = (s: PodState) =>
        options.criticalPriorityClasses.includes(s.pod.spec?.priorityClassName ?? "")
      const waves = [
        { wave: "regular" as const, pods: removing.filter((s) => !isCritical(s)) },
        { wave: "critical" as const, pods: removing.filter(isCritical) }
      ].filter((w) => w.pods.length > 0)

      const evictAll = Effect.forEach(
        waves,
        ({ wave, pods: wavePods }) =>
          Effect.sync(() => options.onProgress({ _tag: "WaveStarted", wave, pods: wavePods.length })).pipe(
            Effect.andThen(Effect.forEach(wavePods, remove, { concurrency: "unbounded", discard: true }))
          ),
        { discard: true }
      )

      const limits = [
        ...(options.timeoutSeconds > 0 ? [startedAt + options.timeoutSeconds * 1000] : []),
        ...(deadline === undefined ? [] : [deadline])
      ]
      const limit = limits.length === 0 ? undefined : Math.min(...limits)
      const evictionsStarted = yield* Clock.currentTimeMillis
      const completed =
        limit === undefined
          ? yield* evictAll.pipe(Effect.as(true))
          : yield* evictAll.pipe(
              Effect.as(true),
              Effect.timeoutOption(Duration.millis(Math.max(0, limit - evictionsStarted))),
              Effect.map(Option.getOrElse(() => false))
            )
      const final = yield* report()
      if (!completed) return { _tag: "TimedOut", report: final }
      return final.pods.some((p) => p.outcome === "Failed")
        ? { _tag: "Failed", report: final }
        : { _tag: "Done", report: final }
    })
  )
