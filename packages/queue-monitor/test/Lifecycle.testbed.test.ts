/**
 * Lifecycle actions against the test bed's Auto Scaling (moto, with the launcher's lifecycle actions).
 */
import { Fixtures, useTestBed } from "@nth/testbed"
import { Duration, Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { Lifecycle } from "../src/index.ts"

const bed = useTestBed()

const waitingAction = async () => {
  const group = Fixtures.uniqueName("asg")
  const node = await bed.registerNode({ autoScalingGroup: { name: group } })
  const started = await Fixtures.startLifecycleAction(bed.clients, {
    autoScalingGroupName: group,
    lifecycleHookName: "nth-drain",
    instanceId: node.instanceId
  })
  return {
    autoScalingGroupName: group,
    lifecycleHookName: "nth-drain",
    lifecycleActionToken: started.lifecycleActionToken,
    instanceId: node.instanceId
  }
}

const recorded = async (token: string) =>
  (await Fixtures.lifecycleActions(bed.clients)).find((a) => a.lifecycleActionToken === token)

describe("Lifecycle", () => {
  it("completes an action with CONTINUE, and a second completion (another replica) counts as done", async () => {
    const lifecycle = Lifecycle.make(bed.clients.autoScaling)
    const action = await waitingAction()
    expect(await Effect.runPromise(lifecycle.complete(action))).toBe("Completed")
    expect(await recorded(action.lifecycleActionToken)).toMatchObject({
      state: "completed",
      result: "CONTINUE"
    })
    expect(await Effect.runPromise(lifecycle.complete(action))).toBe("AlreadyCompleted")
  })

  it("sends heartbeats while the action waits, and stops once it is completed", async () => {
    const lifecycle = Lifecycle.make(bed.clients.autoScaling)
    const action = await waitingAction()
    const beating = Effect.runFork(
      Lifecycle.heartbeats(lifecycle, action, { interval: "300 millis", until: "1 minute" })
    )
    await new Promise((resolve) => setTimeout(resolve, 1100))
    expect((await recorded(action.lifecycleActionToken))?.heartbeats).toBeGreaterThanOrEqual(2)
    await Effect.runPromise(lifecycle.complete(action))
    // The next heartbeat hears that the action is no longer waiting, and the loop ends by itself.
    await Effect.runPromise(Fiber.join(beating).pipe(Effect.timeout("3 seconds")))
  })

  it("reads a hook's timeouts once, and knows a hook the group does not have", async () => {
    const lifecycle = Lifecycle.make(bed.clients.autoScaling)
    const group = Fixtures.uniqueName("asg")
    await bed.registerNode({
      autoScalingGroup: {
        name: group,
        hooks: [
          { name: "nth-slow", transition: "autoscaling:EC2_INSTANCE_TERMINATING", heartbeatTimeout: 900 }
        ]
      }
    })
    const hook = { autoScalingGroupName: group, lifecycleHookName: "nth-slow" }
    const timeouts = await Effect.runPromise(lifecycle.hookTimeouts(hook))
    expect(timeouts && Duration.toSeconds(timeouts.heartbeatTimeout)).toBe(900)
    expect(
      await Effect.runPromise(lifecycle.hookTimeouts({ ...hook, lifecycleHookName: "nope" }))
    ).toBeUndefined()
  })
})
