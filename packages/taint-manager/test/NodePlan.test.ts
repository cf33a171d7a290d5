import { describe, expect, it } from "@effect/vitest"
import type { V1Node } from "@kubernetes/client-node"
import { NodePlan, NodeRecord } from "../src/index.ts"
import { applyPatch, node, taintsOf } from "./support.ts"

const now = new Date("2026-11-25T10:00:00.000Z")
const later = new Date("2026-11-25T10:30:00.000Z")
const spot = { id: "spot-itn-abc", kind: "SpotInterruptionNotice" } as const
const reboot = { id: "instance-event-0123456789abcdef0", kind: "ScheduledMaintenance" } as const
const spotTaint = NodePlan.taintFor("SpotInterruptionNotice", spot.id)!
const rebootTaint = NodePlan.taintFor("ScheduledMaintenance", reboot.id, "NoExecute")!
const otherTaint = { key: "other.example/dedicated", value: "gpu", effect: "NoSchedule" }

const recordOf = (target: V1Node) => NodeRecord.read(target).record

// A readable record that lists nothing: the node was seen by nth, but none of its marks are nth's.
const emptyRecord = NodeRecord.encode({ version: 1, events: [], unschedulableBefore: false, taints: [] })

/** Applies a plan, then checks that planning the same write again on the result writes nothing. */
const applyOnce = <A>(
  target: V1Node,
  write: (target: V1Node) => NodePlan.Plan<A>
): { readonly node: V1Node; readonly result: A; readonly again: A } => {
  const first = write(target)
  const next = applyPatch(target, first.patch)
  const second = write(next)
  expect(second.patch).toBeUndefined()
  return { node: next, result: first.result, again: second.result }
}

describe("taintFor", () => {
  it.each([
    ["SpotInterruptionNotice", "aws-node-termination-handler/spot-itn"],
    ["RebalanceRecommendation", "aws-node-termination-handler/rebalance-recommendation"],
    ["ScheduledMaintenance", "aws-node-termination-handler/scheduled-maintenance"],
    ["HealthScheduledChange", "aws-node-termination-handler/scheduled-maintenance"],
    ["AsgLifecycleTermination", "aws-node-termination-handler/asg-lifecycle-termination"],
    ["AsgTargetLifecycleState", "aws-node-termination-handler/asg-lifecycle-termination"]
  ] as const)("uses the Go handler's key for %s", (kind, key) => {
    expect(NodePlan.taintFor(kind, "e-1")).toEqual({ key, value: "e-1", effect: "NoSchedule" })
  })

  it("has no taint for launches and state changes, and cuts long ids to a label value", () => {
    expect(NodePlan.taintFor("AsgLifecycleLaunch", "e-1")).toBeUndefined()
    expect(NodePlan.taintFor("InstanceStateChange", "e-1")).toBeUndefined()
    expect(NodePlan.taintFor("SpotInterruptionNotice", "x".repeat(80), "PreferNoSchedule")).toEqual({
      key: "aws-node-termination-handler/spot-itn",
      value: "x".repeat(63),
      effect: "PreferNoSchedule"
    })
  })
})

describe("addTaint", () => {
  it("adds the taint and records it in one patch, creating missing lists and maps", () => {
    const plan = NodePlan.addTaint(node(), { taint: spotTaint, event: spot }, now)
    expect(plan.result).toEqual({ _tag: "Added", taint: spotTaint })
    expect(plan.patch).toEqual([
      { op: "add", path: "/metadata/annotations", value: { "nth.dev/record": expect.any(String) } },
      { op: "add", path: "/spec/taints", value: [spotTaint] }
    ])
    const record = recordOf(applyPatch(node(), plan.patch))
    expect(record).toEqual({
      version: 1,
      events: [{ id: spot.id, kind: spot.kind, at: now }],
      unschedulableBefore: false,
      taints: [{ ...spotTaint, at: now }]
    })
  })

  it("appends to others' taints without touching them, and is idempotent", () => {
    const start = node({ taints: [otherTaint], annotations: { "example.com/keep": "1" } })
    const { node: after, again } = applyOnce(start, (n) => NodePlan.addTaint(n, { taint: spotTaint }, now))
    expect(taintsOf(after)).toEqual([
      "other.example/dedicated=gpu:NoSchedule",
      "aws-node-termination-handler/spot-itn=spot-itn-abc:NoSchedule"
    ])
    expect(after.metadata?.annotations?.["example.com/keep"]).toBe("1")
    expect(again).toEqual({ _tag: "AlreadyPresent", taint: spotTaint })
  })

  it("leaves a taint with the same key and another value alone (the Go handler's rule)", () => {
    const held = { ...spotTaint, value: "someone-else" }
    const plan = NodePlan.addTaint(node({ taints: [held] }), { taint: spotTaint }, now)
    expect(plan).toEqual({ result: { _tag: "KeyTaken", existing: held }, patch: undefined })
  })

  it("takes over a taint with the same key and value (left by the Go handler) so it is removed later", () => {
    const start = node({ annotations: { [NodeRecord.recordAnnotation]: emptyRecord }, taints: [spotTaint] })
    const { node: after, result } = applyOnce(start, (n) => NodePlan.addTaint(n, { taint: spotTaint }, now))
    expect(result._tag).toBe("AlreadyPresent")
    expect(recordOf(after)?.taints).toEqual([{ ...spotTaint, at: now }])
  })
})

describe("removeTaints", () => {
  const tainted = applyPatch(
    node({ taints: [otherTaint] }),
    NodePlan.addTaint(node({ taints: [otherTaint] }), { taint: spotTaint, event: spot }, now).patch
  )

  it("removes only the taints nth recorded, and is idempotent", () => {
    const { node: after, result, again } = applyOnce(tainted, (n) => NodePlan.removeTaints(n, {}, now))
    expect(result.removed).toEqual([spotTaint])
    expect(again.removed).toEqual([])
    expect(taintsOf(after)).toEqual(["other.example/dedicated=gpu:NoSchedule"])
    expect(recordOf(after)?.taints).toEqual([])
    expect(recordOf(after)?.events).toHaveLength(1)
  })

  it("plans nothing when there is nothing to remove", () => {
    expect(NodePlan.removeTaints(node(), {}, now)).toEqual({ result: { removed: [] }, patch: undefined })
    expect(NodePlan.removeTaints(node({ taints: [otherTaint] }), {}, now).patch).toBeUndefined()
  })

  it("keeps a taint with nth's key whose value someone changed", () => {
    const changed = structuredClone(tainted)
    changed.spec!.taints![1]!.value = "replaced"
    const plan = NodePlan.removeTaints(changed, {}, now)
    expect(plan.result.removed).toEqual([])
    expect(taintsOf(applyPatch(changed, plan.patch))).toHaveLength(2)
  })

  it("removes only the given keys", () => {
    const both = applyPatch(tainted, NodePlan.addTaint(tainted, { taint: rebootTaint }, now).patch)
    const plan = NodePlan.removeTaints(both, { keys: [rebootTaint.key] }, now)
    expect(plan.result.removed).toEqual([rebootTaint])
    expect(taintsOf(applyPatch(both, plan.patch))).toEqual([
      "other.example/dedicated=gpu:NoSchedule",
      "aws-node-termination-handler/spot-itn=spot-itn-abc:NoSchedule"
    ])
  })

  it("without a record, removes the Go handler's four keys only", () => {
    const goNode = node({ taints: [otherTaint, spotTaint, { key: "example.com/x", effect: "NoExecute" }] })
    const { node: after, result } = applyOnce(goNode, (n) => NodePlan.removeTaints(n, {}, now))
    expect(result.removed).toEqual([spotTaint])
    expect(taintsOf(after)).toEqual(["other.example/dedicated=gpu:NoSchedule", "example.com/x=:NoExecute"])
    expect(after.metadata?.annotations?.[NodeRecord.recordAnnotation]).toBeUndefined()
  })
})

describe("markUncordonAfterReboot", () => {
  it("writes the Go handler's three labels on a schedulable node, and keeps the first time", () => {
    const {
      node: after,
      result,
      again
    } = applyOnce(node({ labels: { a: "b" } }), (n) =>
      NodePlan.markUncordonAfterReboot(n, { event: reboot }, now)
    )
    expect(result).toEqual({ _tag: "Marked", actionLabels: true })
    expect(again).toEqual({ _tag: "AlreadyMarked" })
    expect(after.metadata?.labels).toEqual({
      a: "b",
      "aws-node-termination-handler/event-id": reboot.id,
      "aws-node-termination-handler/action": "UncordonAfterReboot",
      "aws-node-termination-handler/action-time": String(now.getTime() / 1000)
    })
    expect(recordOf(after)?.uncordonAfterReboot).toEqual({ eventId: reboot.id, at: now })
    const remarked = NodePlan.markUncordonAfterReboot(after, { event: reboot }, later)
    expect(remarked.patch).toBeUndefined()
  })

  it("writes only the event id label on a node cordoned by someone else", () => {
    const { node: after, result } = applyOnce(node({ unschedulable: true }), (n) =>
      NodePlan.markUncordonAfterReboot(n, { event: reboot }, now)
    )
    expect(result).toEqual({ _tag: "Marked", actionLabels: false })
    expect(Object.keys(after.metadata?.labels ?? {})).toEqual(["aws-node-termination-handler/event-id"])
    expect(recordOf(after)?.unschedulableBefore).toBe(true)
  })

  it("writes the action labels when the cordon is nth's own", () => {
    const cordoned = applyPatch(node(), NodePlan.cordon(node(), {}, now).patch)
    expect(NodePlan.markUncordonAfterReboot(cordoned, { event: reboot }, now).result).toEqual({
      _tag: "Marked",
      actionLabels: true
    })
  })
})

describe("excludeFromLoadBalancers", () => {
  it("sets nth's value when the label is absent, once", () => {
    const {
      node: after,
      result,
      again
    } = applyOnce(node(), (n) => NodePlan.excludeFromLoadBalancers(n, {}, now))
    expect(result).toEqual({ _tag: "Excluded" })
    expect(again).toEqual({ _tag: "AlreadyExcluded" })
    expect(after.metadata?.labels?.["node.kubernetes.io/exclude-from-external-load-balancers"]).toBe(
      "aws-node-termination-handler"
    )
  })

  it.each(["true", "aws-node-termination-handler"])("leaves a label someone else set (%s) alone", (value) => {
    const start = node({
      labels: { "node.kubernetes.io/exclude-from-external-load-balancers": value },
      annotations: { [NodeRecord.recordAnnotation]: emptyRecord }
    })
    expect(NodePlan.excludeFromLoadBalancers(start, {}, now)).toEqual({
      result: { _tag: "HeldByOther", value },
      patch: undefined
    })
  })
})

describe("cordon and markCordoned", () => {
  it("cordons and records the cordon as nth's in one patch", () => {
    const plan = NodePlan.cordon(node(), { event: spot }, now)
    expect(plan.patch).toContainEqual({ op: "add", path: "/spec/unschedulable", value: true })
    const { node: after, again } = applyOnce(node(), (n) => NodePlan.cordon(n, {}, now))
    expect(after.spec?.unschedulable).toBe(true)
    expect(recordOf(after)?.cordoned).toEqual({ byNth: true, at: now })
    expect(again).toEqual({ _tag: "AlreadyCordoned", byNth: true })
  })

  it("records an existing cordon as someone else's", () => {
    const {
      node: after,
      result,
      again
    } = applyOnce(node({ unschedulable: true }), (n) => NodePlan.cordon(n, {}, now))
    expect(result).toEqual({ _tag: "CordonedByOther" })
    expect(again).toEqual({ _tag: "AlreadyCordoned", byNth: false })
    expect(recordOf(after)?.cordoned).toEqual({ byNth: false, at: now })
  })

  it.each([
    {
      case: "the caller says the node was schedulable",
      alreadyCordoned: false,
      recordFirst: false,
      byNth: true
    },
    { case: "the caller says it was cordoned", alreadyCordoned: true, recordFirst: true, byNth: false },
    { case: "the record saw it schedulable", alreadyCordoned: undefined, recordFirst: true, byNth: true },
    { case: "nothing is known", alreadyCordoned: undefined, recordFirst: false, byNth: false }
  ])("markCordoned: byNth is $byNth when $case", ({ alreadyCordoned, recordFirst, byNth }) => {
    let start = node()
    if (recordFirst) start = applyPatch(start, NodePlan.addTaint(start, { taint: spotTaint }, now).patch)
    start = { ...start, spec: { ...start.spec, unschedulable: true } }
    const { node: after, result } = applyOnce(start, (n) =>
      NodePlan.markCordoned(n, alreadyCordoned === undefined ? {} : { alreadyCordoned }, now)
    )
    expect(result).toEqual({ byNth })
    expect(recordOf(after)?.cordoned?.byNth).toBe(byNth)
  })
})

describe("drain records", () => {
  it("records start and end once", () => {
    const started = applyOnce(node(), (n) => NodePlan.recordDrainStarted(n, { event: spot }, now))
    expect(started.result).toEqual({ startedAt: now, finishedAt: undefined })
    const drained = applyOnce(started.node, (n) => NodePlan.recordDrained(n, {}, later))
    expect(drained.result).toEqual({ startedAt: now, finishedAt: later })
    expect(recordOf(drained.node)?.drain).toEqual({ startedAt: now, finishedAt: later })
  })

  it("records an event that joins a drain under way, without restarting the drain", () => {
    const started = applyOnce(node(), (n) => NodePlan.recordDrainStarted(n, { event: spot }, now))
    const joined = applyOnce(started.node, (n) => NodePlan.recordDrainStarted(n, { event: reboot }, later))
    expect(joined.result).toEqual({ startedAt: now, finishedAt: undefined })
    expect(recordOf(joined.node)?.events.map((e) => e.id)).toEqual([spot.id, reboot.id])
    const drained = applyOnce(joined.node, (n) => NodePlan.recordDrained(n, { event: reboot }, later))
    const again = applyOnce(drained.node, (n) => NodePlan.recordDrained(n, { event: spot }, later))
    expect(recordOf(again.node)?.drain).toEqual({ startedAt: now, finishedAt: later })
    expect(recordOf(again.node)?.events.map((e) => e.id)).toEqual([spot.id, reboot.id])
  })
})

describe("claims", () => {
  const lease = 30_000
  const at = (ms: number) => new Date(now.getTime() + ms)

  it("claims a node nth has no record of, and gives it up leaving no record", () => {
    const claimed = NodePlan.claim(node(), { holder: "a", event: spot, leaseMs: lease }, now)
    expect(claimed.result).toEqual({ _tag: "Claimed", until: at(lease), record: undefined })
    const held = applyPatch(node(), claimed.patch)
    expect(recordOf(held)?.claim).toEqual({ holder: "a", eventId: spot.id, until: at(lease) })
    const released = applyOnce(held, (n) => NodePlan.releaseClaim(n, { holder: "a" }, now))
    expect(released.result).toBe(true)
    expect(released.again).toBe(false)
    expect(released.node.metadata?.annotations?.[NodeRecord.recordAnnotation]).toBeUndefined()
  })

  it("refuses another holder until the claim expires, then lets it take over", () => {
    const held = applyPatch(
      node(),
      NodePlan.claim(node(), { holder: "a", event: spot, leaseMs: lease }, now).patch
    )
    const refused = NodePlan.claim(held, { holder: "b", event: reboot, leaseMs: lease }, at(lease - 1))
    expect(refused).toEqual({
      result: { _tag: "HeldElsewhere", holder: "a", eventId: spot.id, until: at(lease) },
      patch: undefined
    })
    // Another holder cannot give up a claim it does not hold.
    expect(NodePlan.releaseClaim(held, { holder: "b" }, now).patch).toBeUndefined()
    const taken = NodePlan.claim(held, { holder: "b", event: reboot, leaseMs: lease }, at(lease))
    expect(taken.result).toMatchObject({ _tag: "Claimed", until: at(2 * lease) })
    expect(recordOf(applyPatch(held, taken.patch))?.claim).toEqual({
      holder: "b",
      eventId: reboot.id,
      until: at(2 * lease)
    })
  })

  it("renews the holder's own claim, and hands back the record as it was for a resumption", () => {
    let current = applyPatch(node(), NodePlan.cordon(node(), { event: spot }, now).patch)
    current = applyPatch(current, NodePlan.recordDrainStarted(current, { event: spot }, now).patch)
    const first = NodePlan.claim(current, { holder: "a", event: spot, leaseMs: lease }, now)
    expect(first.result).toMatchObject({
      _tag: "Claimed",
      record: { events: [{ id: spot.id }], drain: { startedAt: now } }
    })
    current = applyPatch(current, first.patch)
    const renewed = NodePlan.claim(current, { holder: "a", leaseMs: lease }, at(10_000))
    expect(renewed.result).toMatchObject({ _tag: "Claimed", until: at(10_000 + lease) })
    current = applyPatch(current, renewed.patch)
    expect(recordOf(current)?.claim).toEqual({ holder: "a", eventId: spot.id, until: at(10_000 + lease) })
    // Giving up the claim keeps the rest of the record.
    current = applyPatch(current, NodePlan.releaseClaim(current, { holder: "a" }, now).patch)
    expect(recordOf(current)).toMatchObject({ cordoned: { byNth: true }, drain: { startedAt: now } })
    expect(recordOf(current)?.claim).toBeUndefined()
  })
})

// A node as nth leaves it for a scheduled reboot: marked, tainted, excluded from load balancers, cordoned,
// drained; plus an operator's label and taint.
const handled = (options: { readonly operatorCordon?: boolean } = {}): V1Node => {
  let current = node({
    labels: { team: "a" },
    taints: [otherTaint],
    unschedulable: options.operatorCordon ?? false
  })
  const steps: Array<(n: V1Node) => NodePlan.Plan<unknown>> = [
    (n) => NodePlan.markUncordonAfterReboot(n, { event: reboot }, now),
    (n) => NodePlan.addTaint(n, { taint: rebootTaint, event: reboot }, now),
    (n) => NodePlan.excludeFromLoadBalancers(n, {}, now),
    (n) => NodePlan.cordon(n, {}, now),
    (n) => NodePlan.recordDrainStarted(n, {}, now),
    (n) => NodePlan.recordDrained(n, {}, now)
  ]
  for (const step of steps) current = applyPatch(current, step(current).patch)
  return current
}

describe("sequence", () => {
  const claimWrite: NodePlan.Compute<NodePlan.Claimed> = (target, at) =>
    NodePlan.claim(target, { holder: "replica-a", event: spot, leaseMs: 30_000 }, at)
  const writes: ReadonlyArray<NodePlan.Compute<unknown>> = [
    claimWrite,
    (target, at) => NodePlan.addTaint(target, { taint: spotTaint, event: spot }, at),
    (target, at) => NodePlan.cordon(target, { event: spot }, at),
    (target, at) => NodePlan.recordDrainStarted(target, { event: spot }, at)
  ]

  it("makes several writes as one patch, each computed on the node the ones before it leave", () => {
    // No taints, labels or annotations: the first writes create the lists and maps the later ones add to.
    const bare: V1Node = { metadata: { name: "n" } }
    const one = NodePlan.sequence(writes)(bare, now)
    expect(one.result).toHaveLength(4)
    expect(one.result[0]).toMatchObject({ _tag: "Claimed", record: undefined })
    const together = applyPatch(bare, one.patch)
    const apart = writes.reduce((target, write) => applyPatch(target, write(target, now).patch), bare)
    expect(together).toEqual(apart)
    expect(taintsOf(together)).toEqual([`${spotTaint.key}=${spotTaint.value}:${spotTaint.effect}`])
    expect(together.spec?.unschedulable).toBe(true)
    expect(recordOf(together)).toMatchObject({
      claim: { holder: "replica-a", eventId: spot.id },
      cordoned: { byNth: true },
      drain: { startedAt: now }
    })
    expect(NodePlan.sequence(writes)(together, now).patch).toBeUndefined()
  })

  it("ends at a write the caller refuses: nothing of it or after it is written", () => {
    const held = applyPatch(
      node(),
      NodePlan.claim(node(), { holder: "replica-b", event: spot, leaseMs: 30_000 }, now).patch
    )
    const refused = NodePlan.sequence(writes, {
      accept: (result, index) => index > 0 || (result as NodePlan.Claimed)._tag === "Claimed"
    })(held, now)
    expect(refused.patch).toBeUndefined()
    expect(refused.result).toEqual([
      {
        _tag: "HeldElsewhere",
        holder: "replica-b",
        eventId: spot.id,
        until: new Date(now.getTime() + 30_000)
      }
    ])
  })

  it("takes only this module's writes", () => {
    const handMade: NodePlan.Compute<string> = () => ({ result: "x", patch: [] })
    expect(() => NodePlan.sequence([handMade])(node(), now)).toThrow(/not made by NodePlan/)
  })
})

describe("clear", () => {
  it("removes all of nth's marks and uncordons, leaving the operator's", () => {
    const { node: after, result } = applyOnce(handled(), (n) => NodePlan.clear(n, {}, later))
    expect(result).toEqual({
      eventIds: [reboot.id],
      removedTaints: [rebootTaint],
      removedLabels: [
        "aws-node-termination-handler/event-id",
        "aws-node-termination-handler/action",
        "aws-node-termination-handler/action-time",
        "node.kubernetes.io/exclude-from-external-load-balancers"
      ],
      cordon: "Uncordoned",
      recordRemoved: true
    })
    expect(after.metadata?.labels).toEqual({ team: "a" })
    expect(after.metadata?.annotations).toEqual({})
    expect(taintsOf(after)).toEqual(["other.example/dedicated=gpu:NoSchedule"])
    expect(after.spec?.unschedulable).toBe(false)
  })

  it("keeps an operator's cordon", () => {
    const { node: after, result } = applyOnce(handled({ operatorCordon: true }), (n) =>
      NodePlan.clear(n, {}, later)
    )
    expect(result.cordon).toBe("OtherCordonKept")
    expect(after.spec?.unschedulable).toBe(true)
    expect(after.metadata?.labels).toEqual({ team: "a" })
  })

  it("keeps a cordon an operator set again after nth's, as managedFields tell", () => {
    const withOwner = (manager: string): V1Node => {
      const start = handled()
      return {
        ...start,
        metadata: {
          ...start.metadata,
          managedFields: [
            { manager, operation: "Update", fieldsV1: { "f:spec": { "f:unschedulable": {} } } },
            { manager: "nth", operation: "Update", fieldsV1: { "f:metadata": { "f:labels": {} } } }
          ]
        }
      }
    }
    expect(NodePlan.clear(withOwner("kubectl-cordon"), {}, later).result.cordon).toBe("OtherCordonKept")
    expect(NodePlan.clear(withOwner("nth"), {}, later).result.cordon).toBe("Uncordoned")
    expect(NodePlan.clear(withOwner("my-nth"), { fieldManager: "my-nth" }, later).result.cordon).toBe(
      "Uncordoned"
    )
    // The Go handler's cordon, met at a swap: nth takes over its work, and undoes it as its own.
    expect(NodePlan.clear(withOwner("node-termination-handler"), {}, later).result.cordon).toBe("Uncordoned")
  })

  it("leaves nth's cordon to the caller when asked", () => {
    const plan = NodePlan.clear(handled(), { uncordon: false }, later)
    expect(plan.result.cordon).toBe("NthCordonKept")
    expect(applyPatch(handled(), plan.patch).spec?.unschedulable).toBe(true)
  })

  it("keeps a load-balancer label nth did not set", () => {
    const start = node({ labels: { "node.kubernetes.io/exclude-from-external-load-balancers": "true" } })
    const marked = applyPatch(start, NodePlan.addTaint(start, { taint: spotTaint }, now).patch)
    const after = applyPatch(marked, NodePlan.clear(marked, {}, later).patch)
    expect(after.metadata?.labels).toEqual({
      "node.kubernetes.io/exclude-from-external-load-balancers": "true"
    })
  })

  it("plans nothing on a node nth never touched", () => {
    expect(NodePlan.clear(node({ taints: [otherTaint], unschedulable: true }), {}, later)).toEqual({
      result: {
        eventIds: [],
        removedTaints: [],
        removedLabels: [],
        cordon: "OtherCordonKept",
        recordRemoved: false
      },
      patch: undefined
    })
  })

  it("removes a malformed record, reporting it, without uncordoning", () => {
    const start = node({ annotations: { [NodeRecord.recordAnnotation]: "{not json" }, unschedulable: true })
    const plan = NodePlan.clear(start, {}, later)
    expect(plan.malformedRecord?._tag).toBe("MalformedRecord")
    expect(plan.result.cordon).toBe("OtherCordonKept")
    expect(plan.patch).toEqual([{ op: "remove", path: "/metadata/annotations/nth.dev~1record" }])
  })
})

describe("uncordonAfterReboot", () => {
  const minutes = (n: number) => n * 60

  it.each([
    { case: "booted after the mark", uptimeSeconds: minutes(10), tag: "Rebooted" },
    { case: "booted exactly at the mark", uptimeSeconds: minutes(30), tag: "Rebooted" },
    { case: "up since before the mark", uptimeSeconds: minutes(31), tag: "NotRebooted" }
  ])("$case (mark 30 min ago): $tag", ({ uptimeSeconds, tag }) => {
    const plan = NodePlan.uncordonAfterReboot(handled(), { uptimeSeconds }, later)
    expect(plan.result._tag).toBe(tag)
    expect(plan.result).toMatchObject({ eventId: reboot.id })
    expect(plan.patch === undefined).toBe(tag === "NotRebooted")
  })

  it("undoes only nth's work, then has nothing left to do", () => {
    const {
      node: after,
      result,
      again
    } = applyOnce(handled(), (n) => NodePlan.uncordonAfterReboot(n, { uptimeSeconds: 60 }, later))
    expect(result).toMatchObject({ _tag: "Rebooted", cleared: { cordon: "Uncordoned" } })
    expect(again).toEqual({ _tag: "NotMarked" })
    expect(after.metadata?.labels).toEqual({ team: "a" })
    expect(taintsOf(after)).toEqual(["other.example/dedicated=gpu:NoSchedule"])
    expect(after.spec?.unschedulable).toBe(false)
  })

  it("keeps an operator's cordon after the reboot", () => {
    const plan = NodePlan.uncordonAfterReboot(handled({ operatorCordon: true }), { uptimeSeconds: 60 }, later)
    expect(plan.result).toMatchObject({ _tag: "Rebooted", cleared: { cordon: "OtherCordonKept" } })
    expect(applyPatch(handled({ operatorCordon: true }), plan.patch).spec?.unschedulable).toBe(true)
  })

  it("does nothing on a node without a mark", () => {
    expect(NodePlan.uncordonAfterReboot(node({ taints: [spotTaint] }), { uptimeSeconds: 1 }, later)).toEqual({
      result: { _tag: "NotMarked" },
      patch: undefined
    })
  })

  it("works from the Go handler's labels alone (switching from the Go handler mid-maintenance)", () => {
    const goNode = node({
      labels: {
        "aws-node-termination-handler/event-id": reboot.id,
        "aws-node-termination-handler/action": "UncordonAfterReboot",
        "aws-node-termination-handler/action-time": String(now.getTime() / 1000)
      },
      taints: [rebootTaint, otherTaint],
      unschedulable: true
    })
    const { node: after, result } = applyOnce(goNode, (n) =>
      NodePlan.uncordonAfterReboot(n, { uptimeSeconds: 60 }, later)
    )
    expect(result).toMatchObject({ _tag: "Rebooted", eventId: reboot.id, cleared: { cordon: "Uncordoned" } })
    expect(after.metadata?.labels).toEqual({})
    expect(taintsOf(after)).toEqual(["other.example/dedicated=gpu:NoSchedule"])
    expect(after.spec?.unschedulable).toBe(false)
  })
})

describe("liftRebalanceCordon", () => {
  const rebalance = { id: "rebalance-recommendation-abc", kind: "RebalanceRecommendation" } as const
  const rebalanceTaint = NodePlan.taintFor("RebalanceRecommendation", rebalance.id)!
  const tenMinutes = 10 * 60_000

  /** A node nth tainted and cordoned for a rebalance recommendation at `now`, its lift planned `afterMs` later. */
  const cordonedForRebalance = (
    options: { readonly operatorCordon?: boolean; readonly afterMs?: number; readonly planned?: boolean } = {}
  ) => {
    let target = node({ taints: [otherTaint], ...(options.operatorCordon ? { unschedulable: true } : {}) })
    target = applyPatch(
      target,
      NodePlan.addTaint(target, { taint: rebalanceTaint, event: rebalance }, now).patch
    )
    target = applyPatch(target, NodePlan.cordon(target, { event: rebalance }, now).patch)
    if (options.planned === false) return target
    const planned = NodePlan.planRebalanceLift(
      target,
      { event: rebalance, afterMs: options.afterMs ?? tenMinutes },
      now
    )
    return applyPatch(target, planned.patch)
  }

  it("lifts the cordon and nth's taint once the time is up, remembers the recommendation, then plans nothing", () => {
    const {
      node: after,
      result,
      again
    } = applyOnce(cordonedForRebalance(), (n) => NodePlan.liftRebalanceCordon(n, {}, later))
    expect(result).toMatchObject({
      _tag: "Lifted",
      eventIds: [rebalance.id],
      cleared: { cordon: "Uncordoned" }
    })
    expect(again).toMatchObject({ _tag: "Kept" })
    expect(after.spec?.unschedulable).toBe(false)
    expect(taintsOf(after)).toEqual(["other.example/dedicated=gpu:NoSchedule"])
    expect(recordOf(after)).toMatchObject({
      events: [],
      rebalanceCordonLifted: { eventId: rebalance.id, at: later }
    })
    expect(recordOf(after)?.rebalanceLiftAt).toBeUndefined()
  })

  it("not before its time: NotYet, with when to look again", () => {
    const plan = NodePlan.liftRebalanceCordon(cordonedForRebalance({ afterMs: 60 * 60_000 }), {}, later)
    expect(plan).toMatchObject({ result: { _tag: "NotYet", at: new Date(now.getTime() + 60 * 60_000) } })
    expect(plan.patch).toBeUndefined()
  })

  it("never lifts a cordon whose lift was not planned (made before the setting was on, or by another nth)", () => {
    const plan = NodePlan.liftRebalanceCordon(cordonedForRebalance({ planned: false }), {}, later)
    expect(plan.result).toEqual({ _tag: "Kept", reason: "no lift of a rebalance cordon is planned" })
    expect(plan.patch).toBeUndefined()
  })

  it("keeps the cordon when another event was recorded since (a Spot notice, cordon-only: the node was cordoned)", () => {
    const target = cordonedForRebalance()
    const withSpot = applyPatch(target, NodePlan.cordon(target, { event: spot }, now).patch)
    const plan = NodePlan.liftRebalanceCordon(withSpot, {}, later)
    expect(plan.result).toMatchObject({
      _tag: "Kept",
      reason: expect.stringContaining("SpotInterruptionNotice")
    })
    expect(plan.patch).toBeUndefined()
  })

  it("keeps a drained node cordoned, and one another handler holds", () => {
    const target = cordonedForRebalance()
    const drained = applyPatch(target, NodePlan.recordDrainStarted(target, { event: rebalance }, now).patch)
    expect(NodePlan.liftRebalanceCordon(drained, {}, later).result).toMatchObject({
      _tag: "Kept",
      reason: "the node was drained"
    })
    const held = applyPatch(
      target,
      NodePlan.claim(target, { holder: "replica-b", leaseMs: 60 * 60_000 }, later).patch
    )
    expect(NodePlan.liftRebalanceCordon(held, { holder: "replica-a" }, later).result).toMatchObject({
      _tag: "Kept",
      reason: "replica-b is handling the node"
    })
  })

  it("keeps an operator's cordon, removing nth's own taint", () => {
    const before = cordonedForRebalance({ operatorCordon: true, afterMs: 0 })
    const plan = NodePlan.liftRebalanceCordon(before, {}, later)
    expect(plan.result).toMatchObject({ _tag: "Lifted", cleared: { cordon: "OtherCordonKept" } })
    const after = applyPatch(before, plan.patch)
    expect(after.spec?.unschedulable).toBe(true)
    expect(taintsOf(after)).toEqual(["other.example/dedicated=gpu:NoSchedule"])
  })

  it("does nothing on a node nth has no record of", () => {
    expect(NodePlan.liftRebalanceCordon(node(), {}, later)).toEqual({
      result: { _tag: "Kept", reason: "no lift of a rebalance cordon is planned" },
      patch: undefined
    })
  })
})
