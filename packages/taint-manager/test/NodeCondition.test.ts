/**
 * The `TerminationHandling` condition against the test bed's real kube-apiserver, beside the conditions a kubelet
 * (here KWOK) keeps writing to the same status.
 *
 * What the test bed's KWOK does to a node's status: it runs KWOK's "fast" node stage only, so it writes the
 * node's conditions (Ready, MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable) when the node is not
 * Ready, and then leaves the status alone (it renews the node's Lease every 10 s, not its status: no heartbeat).
 * To see status heartbeats, the first test runs a KWOK of its own with KWOK's heartbeat stage every second or so
 * (`Kwok.startHeartbeats`). KWOK writes with a strategic merge patch of the status, as a kubelet does.
 */

import { describe, expect, it } from "@effect/vitest"
import { PatchStrategy, setHeaderOptions, type V1Node, type V1NodeCondition } from "@kubernetes/client-node"
import { KubeClient } from "@nth/kube"
import { Fixtures, Kwok, useTestBed } from "@nth/testbed"
import { Effect, Layer } from "effect"
import { NodeCondition, TaintManager } from "../src/index.ts"

const bed = useTestBed()

const kube = () => KubeClient.layer({ kubeConfig: bed.clients.kubeConfig, requestTimeout: "5 seconds" })

const withKube = <A, E>(effect: Effect.Effect<A, E, KubeClient.KubeClient>) => Effect.provide(effect, kube())

const readNode = (name: string) => Effect.promise(() => bed.clients.core.readNode({ name }))

/** The node's conditions by type, timestamps as RFC 3339 strings (client-node reads them as dates). */
const conditionsOf = (node: V1Node): Record<string, Record<string, string>> =>
  Object.fromEntries(
    (node.status?.conditions ?? []).map((condition: V1NodeCondition) => [
      condition.type,
      Object.fromEntries(
        Object.entries(condition).map(([key, value]) => [
          key,
          value instanceof Date ? value.toISOString().replace(/\.\d{3}Z$/, "Z") : String(value)
        ])
      )
    ])
  )

const heartbeatOf = (node: V1Node, type = "Ready") => conditionsOf(node)[type]?.lastHeartbeatTime

/** A node no KWOK of the test bed manages: no conditions until a test (or its own KWOK) writes them. */
const unmanagedNode = () =>
  Effect.promise(async () => {
    const node = await Fixtures.registerNodeFor(bed.clients, await Fixtures.launchInstance(bed.clients), {
      kwok: false
    })
    bed.defer(() => Fixtures.deleteNode(bed.clients, node.name))
    return node.name
  })

/** Seconds after `base`, as a Date (the API server keeps timestamps to the second). */
const at = (base: Date, seconds: number) =>
  new Date(Math.floor(base.getTime() / 1000) * 1000 + seconds * 1000)

const draining = {
  status: "True",
  reason: NodeCondition.Reason.Draining,
  message: "SpotInterruption: Spot Instance interruption notice, termination at 2026-03-01T12:02:00Z"
} as const

describe("NodeCondition", () => {
  it.live(
    "survives the status heartbeats of a KWOK, which keep rewriting the node's own conditions",
    () =>
      Effect.gen(function* () {
        const name = yield* unmanagedNode()
        const kwok = yield* Effect.promise(() =>
          Kwok.startHeartbeats({ kubeconfig: bed.clients.env.KUBECONFIG, nodeName: name, heartbeatMs: 1000 })
        )
        bed.defer(() => kwok.stop())
        yield* Effect.promise(() =>
          Fixtures.waitFor("the node Ready", async () =>
            conditionsOf(await bed.clients.core.readNode({ name })).Ready?.status === "True"
              ? true
              : undefined
          )
        )

        const written = yield* withKube(NodeCondition.set({ nodeName: name, ...draining }))
        expect(written.transitioned).toBe(true)
        const afterWrite = yield* readNode(name)
        expect(conditionsOf(afterWrite)[NodeCondition.conditionType]).toEqual(written.condition)

        // Two more heartbeats (KWOK's Ready heartbeat moved twice since the write); every read in between is kept.
        const reads: Array<V1Node> = [afterWrite]
        yield* Effect.promise(() =>
          Fixtures.waitFor(
            "two KWOK heartbeats",
            async () => {
              reads.push(await bed.clients.core.readNode({ name }))
              return new Set(reads.map((node) => heartbeatOf(node))).size >= 3 ? true : undefined
            },
            { timeoutMs: 20_000, intervalMs: 200 }
          )
        )
        for (const node of reads) {
          expect(conditionsOf(node)[NodeCondition.conditionType]).toEqual(written.condition)
          expect(Object.keys(conditionsOf(node)).sort()).toEqual(
            [
              "DiskPressure",
              "MemoryPressure",
              "NetworkUnavailable",
              "PIDPressure",
              "Ready",
              NodeCondition.conditionType
            ].sort()
          )
        }
        const last = yield* readNode(name)
        expect(heartbeatOf(last)! > written.condition.lastHeartbeatTime).toBe(true)
        expect(
          last.metadata?.managedFields?.some(
            (entry) => entry.manager === "kwok" && entry.subresource === "status"
          )
        ).toBe(true)
      }),
    40_000
  )

  it.live("survives the test bed's KWOK writing the node's conditions anew (its node-initialize stage)", () =>
    Effect.gen(function* () {
      const node = yield* Effect.promise(() => bed.registerNode())
      const written = yield* withKube(NodeCondition.set({ nodeName: node.name, ...draining }))
      const before = yield* readNode(node.name)
      // A second later (timestamps are kept to the second), not Ready: KWOK writes all its conditions again (Ready
      // among them, with a fresh heartbeat), as at the node's start. Only KWOK makes it Ready again.
      yield* Effect.sleep("1100 millis")
      yield* Effect.promise(() => Fixtures.setNodeReady(bed.clients, node.name, false))
      const after = yield* Effect.promise(() =>
        Fixtures.waitFor("KWOK to make the node Ready again", async () => {
          const read = await bed.clients.core.readNode({ name: node.name })
          return conditionsOf(read).Ready?.status === "True" ? read : undefined
        })
      )
      expect(heartbeatOf(after)! > heartbeatOf(before)!).toBe(true)
      expect(conditionsOf(after)[NodeCondition.conditionType]).toEqual(written.condition)
      expect(conditionsOf(after).MemoryPressure?.lastHeartbeatTime).toBe(heartbeatOf(after))
    })
  )

  it.live("keeps lastTransitionTime while the status stays, moves it when the status changes", () =>
    withKube(
      Effect.gen(function* () {
        const node = yield* Effect.promise(() => bed.registerNode())
        const t0 = new Date()
        const set = (input: NodeCondition.Input, seconds: number) =>
          NodeCondition.set({ nodeName: node.name, ...input, now: at(t0, seconds) })
        const timestamp = (seconds: number) => at(t0, seconds).toISOString().replace(".000Z", "Z")

        const cordoned = yield* set(
          { status: "True", reason: "Cordoned", message: "SpotInterruption: cordoned" },
          0
        )
        expect(cordoned).toMatchObject({ transitioned: true, attempts: 1, dryRun: false })
        const draining_ = yield* set(draining, 5)
        expect(draining_.transitioned).toBe(false)
        const drained = yield* set({ ...draining, reason: "Drained" }, 9)
        expect(conditionsOf(yield* readNode(node.name))[NodeCondition.conditionType]).toEqual({
          type: "TerminationHandling",
          status: "True",
          reason: "Drained",
          message: draining.message,
          lastHeartbeatTime: timestamp(9),
          lastTransitionTime: timestamp(0)
        })
        expect(drained.condition).toEqual(conditionsOf(drained.node)[NodeCondition.conditionType])

        const uncordoned = yield* set({ status: "False", reason: "Uncordoned", message: "rebooted" }, 20)
        expect(uncordoned.transitioned).toBe(true)
        const after = conditionsOf(yield* readNode(node.name))
        expect(after[NodeCondition.conditionType]).toMatchObject({
          status: "False",
          reason: "Uncordoned",
          lastHeartbeatTime: timestamp(20),
          lastTransitionTime: timestamp(20)
        })
        // The node's own conditions are untouched.
        expect(after.Ready?.status).toBe("True")
      })
    )
  )

  it.live(
    "computed on a stale copy of the node, the write is refused (409) and computed again on a fresh read",
    () =>
      withKube(
        Effect.gen(function* () {
          const node = yield* Effect.promise(() => bed.registerNode())
          const stale = yield* readNode(node.name)
          const t0 = new Date()
          yield* NodeCondition.set({ nodeName: node.name, ...draining, reason: "Cordoned", now: at(t0, 0) })
          // The copy predates the condition: computed on it alone, this would be a transition at +3 s.
          const again = yield* NodeCondition.set({
            nodeName: node.name,
            ...draining,
            node: stale,
            now: at(t0, 3)
          })
          expect(again.attempts).toBe(2)
          expect(again.transitioned).toBe(false)
          expect(again.condition.lastTransitionTime).toBe(at(t0, 0).toISOString().replace(".000Z", "Z"))
        })
      )
  )

  it.live("fails with NodeNotFound for a node that does not exist; a dry run writes nothing", () =>
    withKube(
      Effect.gen(function* () {
        const missing = yield* NodeCondition.set({ nodeName: "no-such-node", ...draining }).pipe(Effect.flip)
        expect(missing._tag).toBe("NodeNotFound")
        const node = yield* Effect.promise(() => bed.registerNode())
        const dry = yield* NodeCondition.set({ nodeName: node.name, ...draining }, { dryRun: true })
        expect(dry.dryRun).toBe(true)
        expect(conditionsOf(dry.node)[NodeCondition.conditionType]).toEqual(dry.condition)
        expect(conditionsOf(yield* readNode(node.name))[NodeCondition.conditionType]).toBeUndefined()
      })
    )
  )

  it.live("the TaintManager sets it too (Effect and Promise APIs), starting from its own last write", () =>
    Effect.gen(function* () {
      const node = yield* Effect.promise(() => bed.registerNode())
      const outcome = yield* Effect.gen(function* () {
        const manager = yield* TaintManager.TaintManager
        yield* manager.cordon({ nodeName: node.name })
        return yield* manager.setCondition({ nodeName: node.name, ...draining, reason: "Cordoned" })
      }).pipe(Effect.provide(TaintManager.layer().pipe(Layer.provide(kube()))))
      expect(outcome.attempts).toBe(1)
      const read = yield* readNode(node.name)
      expect(read.spec?.unschedulable).toBe(true)
      expect(conditionsOf(read)[NodeCondition.conditionType]?.reason).toBe("Cordoned")

      const manager = TaintManager.createTaintManager({ kubeConfig: bed.clients.kubeConfig })
      try {
        const promised = yield* Effect.promise(() =>
          manager.setCondition({
            nodeName: node.name,
            status: "False",
            reason: "Uncordoned",
            message: "done"
          })
        )
        expect(promised.transitioned).toBe(true)
      } finally {
        yield* Effect.promise(() => manager.close())
      }
      expect(conditionsOf(yield* readNode(node.name))[NodeCondition.conditionType]?.status).toBe("False")
    })
  )

  describe("patch types for a condition, on a status the kubelet also writes", () => {
    const ready = (name: string) => Effect.promise(() => Fixtures.setNodeReady(bed.clients, name, true))
    const condition = (reason: string) => ({
      type: NodeCondition.conditionType,
      status: "True",
      reason,
      message: "patch type probe",
      lastHeartbeatTime: new Date(),
      lastTransitionTime: new Date()
    })

    it.live("strategic merge patch (NodeCondition.set): merged by type, the kubelet's conditions kept", () =>
      Effect.gen(function* () {
        const name = yield* unmanagedNode()
        yield* ready(name)
        yield* withKube(NodeCondition.set({ nodeName: name, ...draining }))
        expect(Object.keys(conditionsOf(yield* readNode(name))).sort()).toEqual([
          "Ready",
          "TerminationHandling"
        ])
      })
    )

    it.live("server-side apply: kept too (conditions are a map keyed by type)", () =>
      Effect.gen(function* () {
        const name = yield* unmanagedNode()
        yield* ready(name)
        yield* Effect.promise(() =>
          bed.clients.core.patchNodeStatus(
            {
              name,
              fieldManager: "nth-probe",
              force: true,
              body: {
                apiVersion: "v1",
                kind: "Node",
                metadata: { name },
                status: { conditions: [condition("Applied")] }
              }
            },
            setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply)
          )
        )
        const conditions = conditionsOf(yield* readNode(name))
        expect(Object.keys(conditions).sort()).toEqual(["Ready", "TerminationHandling"])
        expect(conditions.TerminationHandling?.reason).toBe("Applied")
      })
    )

    it.live("JSON merge patch: replaces the whole list, the node loses its Ready condition", () =>
      Effect.gen(function* () {
        const name = yield* unmanagedNode()
        yield* ready(name)
        yield* Effect.promise(() =>
          bed.clients.core.patchNodeStatus(
            { name, body: { status: { conditions: [condition("Merged")] } } },
            setHeaderOptions("Content-Type", PatchStrategy.MergePatch)
          )
        )
        expect(Object.keys(conditionsOf(yield* readNode(name)))).toEqual(["TerminationHandling"])
      })
    )
  })
})
