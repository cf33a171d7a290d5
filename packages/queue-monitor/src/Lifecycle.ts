/**
 * Auto Scaling lifecycle actions: completing the hook once the node is drained (termination) or Ready (launch),
 * and heartbeats that keep a long drain from running into the hook's own timeout.
 *
 * Completing is idempotent across consumers: Auto Scaling answers a `ValidationError` ("No active Lifecycle
 * Action found") to a second completion of the same action, which means another replica (or an earlier try of
 * this one) completed it; that counts as done, never as a failure that would keep the message in the queue.
 *
 * @since 0.1.0
 */
import type {
  AutoScalingClient,
  CompleteLifecycleActionCommandInput,
  DescribeLifecycleHooksCommandOutput,
  RecordLifecycleActionHeartbeatCommandInput
} from "@aws-sdk/client-auto-scaling"
import { Clock, Duration, Effect, Schedule, Schema } from "effect"
import * as SdkError from "./internal/sdkError.ts"

/**
 * Which lifecycle action: what a hook's message says (the event's fields).
 *
 * @category models
 * @since 0.1.0
 */
export interface Action {
  readonly autoScalingGroupName: string
  readonly lifecycleHookName: string
  readonly lifecycleActionToken: string
  readonly instanceId?: string | undefined
}

/**
 * @category errors
 * @since 0.1.0
 */
export class LifecycleError extends Schema.TaggedError<LifecycleError>()("LifecycleError", {
  /** `Throttled`, `ServerError`, `Unreachable` are tried again; `Denied` and `Failed` are not. */
  reason: Schema.Literals(["Throttled", "ServerError", "Unreachable", "Denied", "Failed"]),
  operation: Schema.String,
  message: Schema.String
}) {}

/**
 * How a completion ended: `Completed` by this call, `AlreadyCompleted` (or no longer waiting: the action is
 * gone, completed by another consumer or timed out).
 *
 * @category models
 * @since 0.1.0
 */
export type Completion = "Completed" | "AlreadyCompleted"

const errorName = (error: unknown): string => SdkError.fieldsOf(error).name ?? ""

const statusOf = (error: unknown): number | undefined => SdkError.fieldsOf(error).status

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

// Auto Scaling's answer when the action is no longer waiting (completed, abandoned or timed out).
const isNoActiveAction = (error: unknown) =>
  errorName(error) === "ValidationError" && /no active lifecycle action/i.test(messageOf(error))

const toError = (operation: string, error: unknown): LifecycleError => {
  const name = errorName(error)
  const status = statusOf(error)
  const reason =
    name === "Throttling" || name === "ThrottlingException" || status === 429
      ? "Throttled"
      : status !== undefined && status >= 500
        ? "ServerError"
        : name === "AccessDenied" || name === "AccessDeniedException" || status === 403
          ? "Denied"
          : status === undefined
            ? "Unreachable"
            : "Failed"
  return new LifecycleError({ reason, operation, message: `${operation}: ${messageOf(error)}` })
}

const retried = Schedule.exponential("200 millis").pipe(Schedule.jittered, Schedule.upTo({ times: 5 }))

const isTransient = (error: LifecycleError) =>
  error.reason === "Throttled" || error.reason === "ServerError" || error.reason === "Unreachable"

/**
 * How long a hook waits: `heartbeatTimeout` after the action starts or its last heartbeat, and at most
 * `globalTimeout` in all (the smaller of 48 hours and 100 heartbeat timeouts, when Auto Scaling says).
 *
 * @category models
 * @since 0.3.0
 */
export interface HookTimeouts {
  readonly heartbeatTimeout: Duration.Duration
  readonly globalTimeout: Duration.Duration | undefined
}

/**
 * The Auto Scaling calls queue mode makes.
 *
 * @category models
 * @since 0.1.0
 */
export interface Lifecycle {
  /** `CompleteLifecycleAction` with `CONTINUE`; transient errors are tried again. */
  readonly complete: (action: Action) => Effect.Effect<Completion, LifecycleError>
  /** One `RecordLifecycleActionHeartbeat`. `false` when the action is no longer waiting. */
  readonly heartbeat: (action: Action) => Effect.Effect<boolean, LifecycleError>
  /**
   * The hook's timeouts (`DescribeLifecycleHooks`, remembered per hook once known); `undefined` when the group
   * has no such hook, or (after one `Denied` failure) when nth may not ask.
   *
   * @since 0.3.0
   */
  readonly hookTimeouts: (
    hook: Pick<Action, "autoScalingGroupName" | "lifecycleHookName">
  ) => Effect.Effect<HookTimeouts | undefined, LifecycleError>
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (client: AutoScalingClient): Lifecycle => {
  const send = <A>(run: (signal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({ try: run, catch: (error) => error })

  const complete: Lifecycle["complete"] = (action) =>
    Effect.gen(function* () {
      const { CompleteLifecycleActionCommand } = yield* Effect.promise(
        () => import("@aws-sdk/client-auto-scaling")
      )
      const input: CompleteLifecycleActionCommandInput = {
        AutoScalingGroupName: action.autoScalingGroupName,
        LifecycleHookName: action.lifecycleHookName,
        LifecycleActionToken: action.lifecycleActionToken,
        LifecycleActionResult: "CONTINUE",
        ...(action.instanceId === undefined ? {} : { InstanceId: action.instanceId })
      }
      return yield* send((abortSignal) =>
        client.send(new CompleteLifecycleActionCommand(input), { abortSignal })
      ).pipe(
        Effect.as<Completion>("Completed"),
        Effect.catch((error) =>
          isNoActiveAction(error)
            ? Effect.succeed<Completion>("AlreadyCompleted")
            : Effect.fail(toError("complete lifecycle action", error))
        ),
        Effect.retry({ schedule: retried, while: isTransient })
      )
    })

  const heartbeat: Lifecycle["heartbeat"] = (action) =>
    Effect.gen(function* () {
      const { RecordLifecycleActionHeartbeatCommand } = yield* Effect.promise(
        () => import("@aws-sdk/client-auto-scaling")
      )
      const input: RecordLifecycleActionHeartbeatCommandInput = {
        AutoScalingGroupName: action.autoScalingGroupName,
        LifecycleHookName: action.lifecycleHookName,
        LifecycleActionToken: action.lifecycleActionToken,
        ...(action.instanceId === undefined ? {} : { InstanceId: action.instanceId })
      }
      return yield* send((abortSignal) =>
        client.send(new RecordLifecycleActionHeartbeatCommand(input), { abortSignal })
      ).pipe(
        Effect.as(true),
        Effect.catch((error) =>
          isNoActiveAction(error) || errorName(error) === "ValidationError"
            ? Effect.succeed(false)
            : Effect.fail(toError("record lifecycle action heartbeat", error))
        )
      )
    })

  // A hook's timeouts change only when an operator edits the hook: one call per hook and process.
  const knownHooks = new Map<string, HookTimeouts | undefined>()
  const hookTimeouts: Lifecycle["hookTimeouts"] = (hook) =>
    Effect.gen(function* () {
      const key = `${hook.autoScalingGroupName}/${hook.lifecycleHookName}`
      if (knownHooks.has(key)) return knownHooks.get(key)
      const { DescribeLifecycleHooksCommand } = yield* Effect.promise(
        () => import("@aws-sdk/client-auto-scaling")
      )
      const output: DescribeLifecycleHooksCommandOutput = yield* send((abortSignal) =>
        client.send(
          new DescribeLifecycleHooksCommand({
            AutoScalingGroupName: hook.autoScalingGroupName,
            LifecycleHookNames: [hook.lifecycleHookName]
          }),
          { abortSignal }
        )
      ).pipe(
        Effect.mapError((error) => toError("describe lifecycle hooks", error)),
        Effect.retry({ schedule: retried, while: isTransient }),
        // Without the permission, asking again cannot help: said once, then the hook counts as unknown.
        Effect.tapError((error) =>
          Effect.sync(() => {
            if (error.reason === "Denied") knownHooks.set(key, undefined)
          })
        )
      )
      const found = output.LifecycleHooks?.find((h) => h.LifecycleHookName === hook.lifecycleHookName)
      const timeouts =
        found === undefined
          ? undefined
          : {
              // Auto Scaling's default when the hook was created without one.
              heartbeatTimeout: Duration.seconds(found.HeartbeatTimeout ?? 3600),
              globalTimeout:
                found.GlobalTimeout === undefined ? undefined : Duration.seconds(found.GlobalTimeout)
            }
      knownHooks.set(key, timeouts)
      return timeouts
    })

  return { complete, heartbeat, hookTimeouts }
}

/**
 * Heartbeats every `interval` (the first after one interval, as the Go handler) until `until` has passed, the
 * action is no longer waiting, or the effect is interrupted (the step it runs alongside ended). A failed
 * heartbeat is logged and the next one tried: only Auto Scaling's own "no longer waiting" stops them early.
 *
 * @category constructors
 * @since 0.1.0
 */
export const heartbeats = (
  lifecycle: Lifecycle,
  action: Action,
  options: { readonly interval: Duration.Input; readonly until: Duration.Input }
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const interval = Duration.fromInputUnsafe(options.interval)
    const until = Duration.toMillis(Duration.fromInputUnsafe(options.until))
    const started = yield* Clock.currentTimeMillis
    for (;;) {
      yield* Effect.sleep(interval)
      if ((yield* Clock.currentTimeMillis) - started > until) return
      const waiting = yield* lifecycle
        .heartbeat(action)
        .pipe(
          Effect.catch((error) =>
            Effect.as(Effect.logWarning(`lifecycle heartbeat failed: ${error.message}`), true)
          )
        )
      if (!waiting) return
    }
  })
