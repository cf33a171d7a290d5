/**
 * The heartbeats a termination hook's drain gets: the settings when given, else derived from the hook's own
 * heartbeat timeout when the drain could outlast it. Auto Scaling stubbed: only `hookTimeouts` is asked.
 */

import { it as effectIt } from "@effect/vitest"
import { Lifecycle } from "@nth/queue-monitor"
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import * as Messages from "../src/Messages.ts"

const action = { autoScalingGroupName: "g", lifecycleHookName: "h", lifecycleActionToken: "t" }

const lifecycleWith = (timeouts: Lifecycle.HookTimeouts | undefined): Lifecycle.Lifecycle => ({
  complete: () => Effect.succeed("Completed"),
  heartbeat: () => Effect.succeed(true),
  hookTimeouts: () => Effect.succeed(timeouts)
})

const plan = (
  settings: Partial<Omit<Messages.StepsOptions, "lifecycle">>,
  timeouts: Lifecycle.HookTimeouts | undefined
) =>
  Effect.runSync(
    Messages.heartbeatPlan(
      {
        lifecycle: lifecycleWith(timeouts),
        heartbeatInterval: -1,
        heartbeatUntil: -1,
        completeLifecycleActionDelaySeconds: -1,
        nodeTerminationGracePeriod: 120,
        ...settings
      },
      action
    )
  )

const seconds = (
  p: { readonly interval: Duration.Duration; readonly until: Duration.Duration } | undefined
) => p && { interval: Duration.toSeconds(p.interval), until: Duration.toSeconds(p.until) }

const hook = (heartbeatTimeout: number, globalTimeout?: number): Lifecycle.HookTimeouts => ({
  heartbeatTimeout: Duration.seconds(heartbeatTimeout),
  globalTimeout: globalTimeout === undefined ? undefined : Duration.seconds(globalTimeout)
})

describe("heartbeatPlan", () => {
  it("takes HEARTBEAT_INTERVAL and HEARTBEAT_UNTIL when set (48 h without an until, as the Go handler)", () => {
    expect(seconds(plan({ heartbeatInterval: 60, heartbeatUntil: 600 }, hook(30)))).toEqual({
      interval: 60,
      until: 600
    })
    expect(seconds(plan({ heartbeatInterval: 60 }, undefined))).toEqual({ interval: 60, until: 172_800 })
  })

  it("sends none when the drain ends well inside the hook's timeout (the defaults: 120 s drain, 1 h hook)", () => {
    expect(plan({}, hook(3600))).toBeUndefined()
    expect(plan({}, undefined)).toBeUndefined()
  })

  it("derives them from the hook's timeout when the drain could outlast it", () => {
    // 600 s drain + 60 s of slack against a 300 s hook: every 150 s, for as long as the drain may last.
    expect(seconds(plan({ nodeTerminationGracePeriod: 600 }, hook(300)))).toEqual({
      interval: 150,
      until: 660
    })
    // An unbounded drain: until the hook's global timeout, or 48 h.
    expect(seconds(plan({ nodeTerminationGracePeriod: 0 }, hook(300, 30_000)))).toEqual({
      interval: 150,
      until: 30_000
    })
    expect(seconds(plan({ nodeTerminationGracePeriod: 0 }, hook(300)))).toEqual({
      interval: 150,
      until: 172_800
    })
    // The completion delay counts as part of the wait.
    expect(
      plan({ nodeTerminationGracePeriod: 100, completeLifecycleActionDelaySeconds: 200 }, hook(300))
    ).toBeDefined()
  })

  it("sends none when the hook's timeout cannot be read (no DescribeLifecycleHooks permission), and says so", () => {
    const denied: Lifecycle.Lifecycle = {
      ...lifecycleWith(undefined),
      hookTimeouts: () =>
        Effect.fail(
          new Lifecycle.LifecycleError({
            reason: "Denied",
            operation: "describe lifecycle hooks",
            message: "denied"
          })
        )
    }
    expect(
      Effect.runSync(
        Messages.heartbeatPlan(
          {
            lifecycle: denied,
            heartbeatInterval: -1,
            heartbeatUntil: -1,
            completeLifecycleActionDelaySeconds: -1,
            nodeTerminationGracePeriod: 0
          },
          action
        )
      )
    ).toBeUndefined()
  })

  effectIt.effect("keep beating through COMPLETE_LIFECYCLE_ACTION_DELAY_SECONDS, then complete once", () =>
    Effect.gen(function* () {
      let beats = 0
      let completions = 0
      const lifecycle: Lifecycle.Lifecycle = {
        complete: () =>
          Effect.sync(() => {
            completions += 1
            return "Completed" as const
          }),
        heartbeat: () =>
          Effect.sync(() => {
            beats += 1
            return true
          }),
        hookTimeouts: () => Effect.succeed(undefined)
      }
      const steps = Messages.steps({
        lifecycle,
        heartbeatInterval: 30,
        heartbeatUntil: 3600,
        completeLifecycleActionDelaySeconds: 100,
        nodeTerminationGracePeriod: 120
      })([])
      const complete = steps.find((step) => step.name === "complete lifecycle action")
      if (complete === undefined) throw new Error("no completion step")
      const event = {
        kind: "AsgLifecycleTermination",
        id: "asg-lifecycle-term-1",
        instanceId: "i-1",
        nodeName: "n",
        autoScalingGroupName: "g",
        lifecycleHookName: "h",
        lifecycleActionToken: "t"
      }
      const fiber = yield* Effect.forkChild(complete.run!({ event } as never))
      yield* TestClock.adjust("99 seconds")
      expect(beats).toBe(3)
      expect(completions).toBe(0)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      expect(completions).toBe(1)
      yield* TestClock.adjust("60 seconds")
      expect(beats).toBe(3)
    })
  )
})
