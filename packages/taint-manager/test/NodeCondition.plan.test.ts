/**
 * The patch builder of the `TerminationHandling` condition, without a cluster.
 */
import type { V1Node, V1NodeCondition } from "@kubernetes/client-node"
import { describe, expect, it } from "vitest"
import { NodeCondition } from "../src/index.ts"

const t0 = new Date("2026-03-01T12:00:00.000Z")
const t1 = new Date("2026-03-01T12:00:07.654Z")

const ready: V1NodeCondition = {
  type: "Ready",
  status: "True",
  reason: "KubeletReady",
  lastHeartbeatTime: t0,
  lastTransitionTime: t0
}

const nodeWith = (...conditions: ReadonlyArray<V1NodeCondition>): V1Node => ({
  metadata: { name: "ip-10-0-0-1.ec2.internal", resourceVersion: "42" },
  status: { conditions: [...conditions] }
})

const cordoned: NodeCondition.Input = {
  status: "True",
  reason: "Cordoned",
  message: "SpotInterruption: cordoned"
}

describe("NodeCondition.plan", () => {
  it("on a node without the condition: a transition, both times now (to the second), pinned to the node", () => {
    const planned = NodeCondition.plan(nodeWith(ready), cordoned, t1)
    expect(planned.transitioned).toBe(true)
    expect(planned.patch).toEqual({
      metadata: { resourceVersion: "42" },
      status: {
        conditions: [
          {
            type: "TerminationHandling",
            status: "True",
            reason: "Cordoned",
            message: "SpotInterruption: cordoned",
            lastHeartbeatTime: "2026-03-01T12:00:07Z",
            lastTransitionTime: "2026-03-01T12:00:07Z"
          }
        ]
      }
    })
    expect(planned.condition).toBe(planned.patch.status.conditions[0])
  })

  it("the same status with another reason: the heartbeat moves, the transition time stays", () => {
    const node = nodeWith(ready, {
      type: "TerminationHandling",
      status: "True",
      reason: "Cordoned",
      message: "m",
      lastHeartbeatTime: "2026-03-01T12:00:00Z" as unknown as Date, // as JSON from @nth/kube
      lastTransitionTime: "2026-03-01T12:00:00Z" as unknown as Date
    })
    const planned = NodeCondition.plan(node, { status: "True", reason: "Draining", message: "draining" }, t1)
    expect(planned.transitioned).toBe(false)
    expect(planned.condition).toMatchObject({
      reason: "Draining",
      message: "draining",
      lastHeartbeatTime: "2026-03-01T12:00:07Z",
      lastTransitionTime: "2026-03-01T12:00:00Z"
    })
  })

  it("keeps a transition time read as a Date (client-node), as RFC 3339", () => {
    const node = nodeWith({ type: "TerminationHandling", status: "True", lastTransitionTime: t0 })
    expect(NodeCondition.plan(node, cordoned, t1).condition.lastTransitionTime).toBe("2026-03-01T12:00:00Z")
  })

  it("a change of status is a transition: the transition time is now", () => {
    const node = nodeWith({ type: "TerminationHandling", status: "True", lastTransitionTime: t0 })
    const planned = NodeCondition.plan(
      node,
      { status: "False", reason: "Uncordoned", message: "rebooted" },
      t1
    )
    expect(planned.transitioned).toBe(true)
    expect(planned.condition).toMatchObject({
      status: "False",
      reason: "Uncordoned",
      lastTransitionTime: "2026-03-01T12:00:07Z"
    })
  })

  it("an existing condition without a transition time gets one", () => {
    const node = nodeWith({ type: "TerminationHandling", status: "True" })
    const planned = NodeCondition.plan(node, cordoned, t1)
    expect(planned.transitioned).toBe(true)
    expect(planned.condition.lastTransitionTime).toBe("2026-03-01T12:00:07Z")
  })

  it("without a node: a transition, not pinned", () => {
    const planned = NodeCondition.plan(undefined, cordoned, t1)
    expect(planned.transitioned).toBe(true)
    expect(planned.patch.metadata).toBeUndefined()
  })

  it("cuts a runaway message to 1024 characters", () => {
    const planned = NodeCondition.plan(undefined, { ...cordoned, message: "x".repeat(5000) }, t1)
    expect(planned.condition.message).toHaveLength(1024)
    expect(planned.condition.message.endsWith("…")).toBe(true)
  })

  it("reads the condition back, whatever its values", () => {
    expect(NodeCondition.read(nodeWith(ready))).toBeUndefined()
    expect(
      NodeCondition.read(
        nodeWith(ready, {
          type: "TerminationHandling",
          status: "Unknown",
          reason: "Other",
          lastHeartbeatTime: t0
        })
      )
    ).toEqual({ status: "Unknown", reason: "Other", lastHeartbeatTime: "2026-03-01T12:00:00Z" })
  })

  it("has a reason for each step nth takes, and for each undoing", () => {
    expect(NodeCondition.conditionType).toBe("TerminationHandling")
    expect(Object.values(NodeCondition.Reason).sort()).toEqual([
      "Acknowledged",
      "Cordoned",
      "DrainFailed",
      "Drained",
      "Draining",
      "RebalanceCordonLifted",
      "Uncordoned"
    ])
  })
})
