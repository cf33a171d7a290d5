/**
 * The drain itself: list → decide → (refuse | dry run | evict in waves) → wait until gone → report.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { type KubeClient, KubeError } from "@nth/kube"
import { Clock, Duration, Effect, Schedule, Semaphore } from "effect"
import type * as Deadline from "../Deadline.ts"
import type { DrainReport, PodRef, PodReport, Progress } from "../DrainReport.ts"
import * as PodFilter from "../PodFilter.ts"
import { type BudgetTracker, makeBudgetTracker } from "./budgets.ts"
import { setUnschedulable } from "./cordon.ts"
import { planGrace } from "./grace.ts"
import { makePodTracker } from "./pods.ts"

/** The drain's options with every default filled in (see `Drainer.Options` for their meaning). */
export interface ResolvedOptions {
  readonly cordon: boolean
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
  readonly deadline: Deadline.Deadline
  readonly deadlineMarginSeconds: number
  readonly budgetRetryFallback: Duration.Input
  readonly podAnnotations: boolean
  readonly additionalFilters: ReadonlyArray<PodFilter.PodFilter>
  readonly onProgress: (event: Progress) => void
}

/** The drain's pace: kubectl's in production; tests make it quicker. */
export interface Pacing {
  /** The first delay after a server error (doubling with each, up to 5 s). */
  readonly serverErrorDelay: Duration.Input
  /** Between evictions refused because the namespace is terminating. */
  readonly namespaceTerminatingDelay: Duration.Input
  /** How often the pod tracker polls while its watch is down. */
  readonly podPollInterval: Duration.Input
}

export const defaultPacing: Pacing = {
  serverErrorDelay: "200 millis",
  namespaceTerminatingDelay: "1 second",
  podPollInterval: "1 second"
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
  /** The wave it is evicted in, for pods the drain removes. */
  readonly wave: "regular" | "critical" | undefined
  method: PodReport["method"]
  outcome: PodReport["outcome"]
  /** Why the drain let the pod go after all (stuck terminating, gone before a dry run's turn). */
  reason: PodFilter.Reason | undefined
  message: string | undefined
  attempts: number
  blockedBy: Set<string>
  gracePeriodSeconds: number | undefined
  gracePeriodShortened: boolean
  /** Deliberate second evictions with a shorter grace (see `PodReport.reEvictions`). */
  reEvictions: number
  /** When the grace of its accepted eviction (or of its deletion before the drain) runs out. */
  graceEndsAt: number | undefined
  evictedAt: number | undefined
  goneAt: number | undefined
  error: string | undefined
}

const refOf = (pod: V1Pod): PodRef => ({
  namespace: pod.metadata?.namespace ?? "",
  name: pod.metadata?.name ?? "",
  uid: pod.metadata?.uid ?? "",
  ...(pod.metadata?.labels === undefined ? {} : { labels: pod.metadata.labels })
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

// Tries after a server error or a lost connection before the pod counts as failed (kubectl fails it at once).
const SERVER_ERROR_RETRIES = 5

// A list that meets a server error, throttling or a lost connection is tried again (5 times, from 200 ms): one
// 500 from the API server must not fail a drain before it began (found by the fault proxy, test/faults.test.ts).
const retryTransient = {
  schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered),
  times: SERVER_ERROR_RETRIES,
  while: isTransient
} as const

const listPods = (kube: KubeClient.Service, nodeName: string, options: ResolvedOptions) =>
  Effect.gen(function* () {
    const pods: Array<V1Pod> = []
    let resourceVersion: string | undefined
    let token: string | undefined
    do {
      const page = yield* kube
        .call(`list pods on node ${nodeName}`, (o) =>
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
        .pipe(Effect.retry(retryTransient))
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
            Effect.retry(retryTransient),
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
      ...(s.reason !== undefined
        ? { reason: s.reason, ...(s.message === undefined ? {} : { message: s.message }) }
        : verdict._tag === "Skip" || verdict._tag === "Refuse"
          ? { reason: verdict.reason, message: verdict.message }
          : {}),
      warnings: s.decision.warnings,
      attempts: s.attempts,
      blockedBy: [...s.blockedBy],
      ...(s.wave === undefined ? {} : { wave: s.wave }),
      ...(s.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: s.gracePeriodSeconds }),
      gracePeriodShortened: s.gracePeriodShortened,
      reEvictions: s.reEvictions,
      ...(s.evictedAt === undefined ? {} : { evictedAfterMs: s.evictedAt - startedAt }),
      ...(s.goneAt === undefined ? {} : { goneAfterMs: s.goneAt - startedAt }),
      ...(s.error === undefined ? {} : { error: s.error })
    }
  })
})

export const run = (
  kube: KubeClient.Service,
  nodeName: string,
  options: ResolvedOptions,
  pacing: Pacing = defaultPacing
): Effect.Effect<Ending, KubeError.KubeError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const startedAt = yield* Clock.currentTimeMillis
      const requestsAtStart = kube.requestCount()
      // The caller's callback, which must not break the drain: what it throws is dropped.
      const emit = (event: Progress) => {
        try {
          options.onProgress(event)
        } catch {
          // Nothing to do with it: the drain goes on.
        }
      }
      // kubectl cordons first, so that nothing new lands on the node while it is emptied.
      if (options.cordon && options.dryRun !== "client")
        yield* setUnschedulable(kube, nodeName, true, options.dryRun === "server")
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
      // With podAnnotations, do-not-evict comes before kubectl's rules (it wins over their refusals), the others
      // after them (they only adjust pods that are to go).
      const filters = options.podAnnotations
        ? [
            PodFilter.doNotEvict,
            ...PodFilter.builtIn,
            PodFilter.evictLast,
            PodFilter.annotatedGracePeriod,
            ...options.additionalFilters
          ]
        : [...PodFilter.builtIn, ...options.additionalFilters]
      const critical = new Set(options.criticalPriorityClasses)
      const states: Array<PodState> = pods.map((pod) => {
        const decision = PodFilter.decide(pod, filters, context)
        const removing = decision.verdict._tag === "Remove" || decision.verdict._tag === "RemoveWithWarning"
        return {
          ref: refOf(pod),
          pod,
          decision,
          wave: !removing
            ? undefined
            : decision.evictLast === true || critical.has(pod.spec?.priorityClassName ?? "")
              ? "critical"
              : "regular",
          // A finished pod is evicted too, as kubectl does: the Eviction API deletes it without consulting any
          // budget, so no `pods delete` permission is needed unless evictions are disabled.
          method: !removing ? "none" : options.disableEviction ? "delete" : "evict",
          outcome:
            decision.verdict._tag === "Skip"
              ? "Skipped"
              : decision.verdict._tag === "Refuse"
                ? "Refused"
                : "Pending",
          reason: undefined,
          message: undefined,
          attempts: 0,
          blockedBy: new Set(),
          gracePeriodSeconds: undefined,
          gracePeriodShortened: false,
          reEvictions: 0,
          graceEndsAt: undefined,
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

      // Pods left alone at their own request are said so as the drain goes on, not only in the report.
      for (const s of states) {
        const verdict = s.decision.verdict
        if (verdict._tag === "Skip" && verdict.reason === "DoNotEvict")
          emit({ _tag: "PodSkipped", pod: s.ref, reason: verdict.reason, message: verdict.message })
      }

      const removing = states.filter((s) => s.method !== "none")
      if (options.dryRun === "client") {
        for (const s of removing) s.outcome = "WouldRemove"
        return { _tag: "Done", report: yield* report() }
      }

      const dryRun = options.dryRun === "server"
      const tracker = dryRun
        ? undefined
        : yield* makePodTracker(
            kube,
            nodeName,
            { pods, resourceVersion },
            { pollInterval: pacing.podPollInterval }
          )
      // Started on the first refusal by a budget: a drain no budget slows down never pays for the watch.
      let budgetTracker: BudgetTracker | undefined
      const budgets = yield* Effect.cached(
        makeBudgetTracker(kube, { fallback: options.budgetRetryFallback }).pipe(
          Effect.tap((started) =>
            Effect.sync(() => {
              budgetTracker = started
            })
          )
        )
      )
      const requests = yield* Semaphore.make(Math.max(1, options.concurrency))
      // Read afresh at each use: the caller may move it earlier while the drain runs.
      const deadlineAt = () => options.deadline.current()?.getTime()
      const marginMs = options.deadlineMarginSeconds * 1000
      const serverErrorDelay = Duration.toMillis(Duration.fromInputUnsafe(pacing.serverErrorDelay))

      const send = (state: PodState, now: number) => {
        const { namespace, name, uid } = state.ref
        const deadline = deadlineAt()
        const grace = planGrace(
          state.pod,
          {
            // The pod's own choice (an annotation, a rule's adjustment) is the more specific one.
            gracePeriodSeconds: state.decision.gracePeriodSeconds ?? options.gracePeriodSeconds,
            ...(deadline === undefined ? {} : { deadline }),
            deadlineMarginMs: marginMs
          },
          now
        )
        state.gracePeriodSeconds = grace.seconds
        state.gracePeriodShortened = grace.shortened
        state.attempts += 1
        if (state.attempts === 1) {
          emit({
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
        const call = (
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
        ).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              state.graceEndsAt = now + grace.effectiveSeconds * 1000
              // Marked here, inside the uninterruptible call: a drain cut short right after the answer (its time ran
              // out) still knows the pod is terminating, and its last call does not evict it again.
              if (!dryRun) {
                state.outcome = "Terminating"
                state.evictedAt = now
              }
            })
          )
        )
        // Not cut short once sent: a request the API server may carry out must have its answer read, or the drain
        // could not know the pod was evicted and might evict it a second time.
        return Semaphore.withPermit(requests)(Effect.uninterruptible(call))
      }

      const gone = (state: PodState) =>
        Effect.gen(function* () {
          state.outcome = "Gone"
          state.goneAt = yield* Clock.currentTimeMillis
          emit({ _tag: "PodGone", pod: state.ref })
        })

      const skipped = (state: PodState, reason: PodFilter.Reason, message: string) =>
        Effect.sync(() => {
          state.outcome = "Skipped"
          state.reason = reason
          state.message = message
          emit({ _tag: "PodSkipped", pod: state.ref, reason, message })
        })

      // Until the pod is gone, or (with skipWaitForDeleteTimeoutSeconds) stuck past its deletion time, as
      // kubectl's wait lets such pods go.
      const awaitRemoval = (state: PodState) =>
        tracker!
          .awaitGone(state.ref, { skipWaitForDeleteTimeoutSeconds: options.skipWaitForDeleteTimeoutSeconds })
          .pipe(
            Effect.flatMap((waited) =>
              waited === "Gone"
                ? gone(state)
                : skipped(
                    state,
                    "DeletedLongAgo",
                    `pod ${state.ref.namespace}/${state.ref.name} is still terminating more than ${options.skipWaitForDeleteTimeoutSeconds} s after its deletion time; no longer waiting for it`
                  )
            )
          )

      // A pod already shutting down (evicted by an earlier run, say) is only waited for, unless it would outlive
      // the deadline: then it is evicted again, with the shorter grace.
      const alreadyTerminating = (state: PodState) => {
        const deletion = state.pod.metadata?.deletionTimestamp
        if (deletion === undefined || dryRun || tracker === undefined) return false
        const deadline = deadlineAt()
        const endsAt = new Date(deletion).getTime()
        if (deadline !== undefined && endsAt > deadline - marginMs) return false
        state.graceEndsAt = endsAt
        return true
      }

      const failed = (state: PodState, error: KubeError.KubeError) => {
        state.outcome = "Failed"
        state.error = error.message
        emit({ _tag: "PodFailed", pod: state.ref, error: error.message })
      }

      // Sends the pod's eviction (or deletion) until the API server accepts it or the pod fails for good. True
      // when the pod is now terminating, to be waited for. With `once`, one request: a refusal is not waited out.
      const evict = (state: PodState, once: boolean) =>
        Effect.gen(function* () {
          let serverErrors = 0
          let throttled = 0
          for (;;) {
            const now = yield* Clock.currentTimeMillis
            const budgetsSeen = budgetTracker?.sequence()
            const result = yield* Effect.result(send(state, now))
            if (result._tag === "Success") {
              state.evictedAt = now
              if (dryRun) {
                state.outcome = "Accepted"
                return false
              }
              if (state.pod.metadata?.deletionTimestamp !== undefined) {
                // Terminating before the drain began, with a grace that outlived the deadline: shortened on purpose.
                state.reEvictions += 1
                emit({
                  _tag: "PodEvictedAgain",
                  pod: state.ref,
                  gracePeriodSeconds: state.gracePeriodSeconds
                })
              } else {
                emit({ _tag: state.method === "evict" ? "PodEvicted" : "PodDeleted", pod: state.ref })
              }
              state.outcome = "Terminating"
              return true
            }
            const error = result.failure
            if (error.reason === "NotFound" || error.reason === "Conflict") {
              // A dry run removes nothing: the pod went (or was replaced) on its own, before its turn.
              if (dryRun) {
                const { namespace, name } = state.ref
                yield* error.reason === "NotFound"
                  ? skipped(state, "NotFound", `pod ${namespace}/${name} no longer exists`)
                  : skipped(state, "Replaced", `pod ${namespace}/${name} was replaced by another of its name`)
                return false
              }
              yield* gone(state)
              return false
            }
            if (isBudgetRefusal(error)) {
              const budget = budgetNameFrom(error)
              const fresh = budget === undefined || !state.blockedBy.has(budget)
              if (budget) state.blockedBy.add(budget)
              state.outcome = "Blocked"
              if (fresh) emit({ _tag: "PodBlocked", pod: state.ref, budget, message: error.message })
              if (once) return false
              yield* (yield* budgets).awaitChance(state.pod, budget, budgetsSeen)
              continue
            }
            if (isNamespaceTerminating(error)) {
              if (state.pod.metadata?.deletionTimestamp !== undefined && !dryRun) {
                state.outcome = "Terminating"
                return true
              }
              if (once) {
                state.error = error.message
                return false
              }
              yield* Effect.sleep(pacing.namespaceTerminatingDelay)
              continue
            }
            const isThrottled = error.reason === "TooManyRequests"
            if (once) {
              // No time for another try: an error that might have passed leaves the pod where it was.
              if (isThrottled || isTransient(error)) state.error = error.message
              else failed(state, error)
              return false
            }
            // Throttling (API priority and fairness) is waited out as long as the drain may last, as kubectl does;
            // other server errors and lost connections get a few tries, then the pod fails.
            if (isThrottled || (isTransient(error) && serverErrors < SERVER_ERROR_RETRIES)) {
              const tries = isThrottled ? ++throttled : ++serverErrors
              const delay =
                error.retryAfterSeconds !== undefined && error.retryAfterSeconds > 0
                  ? Duration.seconds(Math.min(error.retryAfterSeconds, 10))
                  : Duration.millis(
                      Math.min(serverErrorDelay * 2 ** (tries - 1), 5000) * (0.8 + Math.random() * 0.4)
                    )
              yield* Effect.sleep(delay)
              continue
            }
            failed(state, error)
            return false
          }
        })

      const remove = (state: PodState) =>
        Effect.gen(function* () {
          if (alreadyTerminating(state)) {
            state.outcome = "Terminating"
            return yield* awaitRemoval(state)
          }
          if (yield* evict(state, false)) yield* awaitRemoval(state)
        })

      // The last wave: critical priority classes, and pods a rule marked evict-last.
      const waves = [
        { wave: "regular" as const, pods: removing.filter((s) => s.wave === "regular") },
        { wave: "critical" as const, pods: removing.filter((s) => s.wave === "critical") }
      ].filter((w) => w.pods.length > 0)

      const evictAll = Effect.forEach(
        waves,
        ({ wave, pods: wavePods }) =>
          Effect.sync(() => emit({ _tag: "WaveStarted", wave, pods: wavePods.length })).pipe(
            Effect.andThen(Effect.forEach(wavePods, remove, { concurrency: "unbounded", discard: true }))
          ),
        { discard: true }
      )

      // Resolves at the deadline's first move after `version` (at once if it moved since).
      const deadlineMoved = (version: number) =>
        Effect.callback<void>((resume) => {
          if (options.deadline.version() !== version) return resume(Effect.void)
          const stop = options.deadline.subscribe(() => resume(Effect.void))
          return Effect.sync(stop)
        })

      // Resolves once `until()` has passed; `until` is read again whenever the deadline moves.
      const expiry = (until: () => number | undefined) =>
        Effect.gen(function* () {
          for (;;) {
            const version = options.deadline.version()
            const limit = until()
            const now = yield* Clock.currentTimeMillis
            if (limit !== undefined && limit <= now) return
            yield* limit === undefined
              ? deadlineMoved(version)
              : Effect.raceFirst(Effect.sleep(Duration.millis(limit - now)), deadlineMoved(version))
          }
        })

      // Runs `effect` until `until()`; false when time ran out first (without starting it, if it already had).
      const within = <E, R>(effect: Effect.Effect<unknown, E, R>, until: () => number | undefined) =>
        Effect.gen(function* () {
          const limit = until()
          if (limit !== undefined && limit <= (yield* Clock.currentTimeMillis)) return false
          return yield* Effect.raceFirst(effect.pipe(Effect.as(true)), expiry(until).pipe(Effect.as(false)))
        })

      const timeoutAt = options.timeoutSeconds > 0 ? startedAt + options.timeoutSeconds * 1000 : undefined
      // From `deadlineMarginSeconds` before the deadline on, no pod's grace can be shortened any further and there
      // is no time left for waves or budgets.
      const lastCallAt = () => {
        const deadline = deadlineAt()
        return deadline === undefined ? undefined : deadline - marginMs
      }
      const earliest = (...times: ReadonlyArray<number | undefined>) => {
        const known = times.filter((time) => time !== undefined)
        return known.length === 0 ? undefined : Math.min(...known)
      }

      // When the deadline moves earlier, a pod already terminating whose grace would now outlive it is evicted once
      // more, with the shorter grace (the API server shortens a pending deletion's grace, never lengthens it).
      if (!dryRun) {
        const shortenGraces = Effect.gen(function* () {
          for (;;) {
            yield* deadlineMoved(options.deadline.version())
            const limit = lastCallAt()
            if (limit === undefined) continue
            yield* Effect.forEach(
              removing.filter(
                (s) => s.outcome === "Terminating" && s.graceEndsAt !== undefined && s.graceEndsAt > limit
              ),
              (state) =>
                Effect.gen(function* () {
                  const result = yield* Effect.result(send(state, yield* Clock.currentTimeMillis))
                  if (result._tag === "Failure") {
                    state.error = result.failure.message
                    return
                  }
                  state.reEvictions += 1
                  emit({
                    _tag: "PodEvictedAgain",
                    pod: state.ref,
                    gracePeriodSeconds: state.gracePeriodSeconds
                  })
                }),
              { concurrency: "unbounded", discard: true }
            )
          }
        })
        yield* Effect.forkScoped(shortenGraces)
      }

      const completed = yield* within(evictAll, () => earliest(timeoutAt, lastCallAt()))
      const lastCall = lastCallAt()
      if (!completed && lastCall !== undefined && (timeoutAt === undefined || lastCall < timeoutAt)) {
        // The last call: every pod not evicted yet gets one eviction now, all at once, with no waves and no
        // waiting out budgets (its node goes away at the deadline anyway: the eviction gives it the minimum grace
        // to stop cleanly, and its controller a head start).
        yield* Effect.forEach(
          removing.filter((s) => s.outcome === "Pending" || s.outcome === "Blocked"),
          (state) =>
            alreadyTerminating(state)
              ? Effect.sync(() => {
                  state.outcome = "Terminating"
                })
              : evict(state, true),
          { concurrency: "unbounded", discard: true }
        )
        // Then, until the deadline, it waits for the pods going away and keeps trying those a budget (or an error)
        // held back, since a budget may still allow one. A pod still standing at the deadline fails the drain.
        yield* within(
          Effect.forEach(
            removing.filter(
              (s) => s.outcome === "Terminating" || s.outcome === "Pending" || s.outcome === "Blocked"
            ),
            (state) => (state.outcome === "Terminating" ? awaitRemoval(state) : remove(state)),
            { concurrency: "unbounded", discard: true }
          ),
          () => earliest(timeoutAt, deadlineAt())
        )
      }
      const final = yield* report()
      // Success means every pod the drain had to remove is gone: one still pending, blocked or terminating when
      // time ran out is a failure, whatever path led there.
      const unfinished = final.pods.some(
        (p) => p.outcome === "Pending" || p.outcome === "Blocked" || p.outcome === "Terminating"
      )
      if (unfinished) return { _tag: "TimedOut", report: final }
      return final.pods.some((p) => p.outcome === "Failed")
        ? { _tag: "Failed", report: final }
        : { _tag: "Done", report: final }
    })
  )
