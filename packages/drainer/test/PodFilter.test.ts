import { describe, expect, it } from "@effect/vitest"
import type { V1Pod } from "@kubernetes/client-node"
import { PodFilter } from "../src/index.ts"

const context = (overrides: Partial<PodFilter.Context> = {}): PodFilter.Context => ({
  force: false,
  ignoreDaemonSets: false,
  deleteEmptyDirData: false,
  skipWaitForDeleteTimeoutSeconds: 0,
  now: Date.parse("2026-11-25T10:00:00Z"),
  daemonSetExists: () => true,
  ...overrides
})

const pod = (shape: {
  owner?: string
  phase?: string
  emptyDir?: boolean
  mirror?: boolean
  deletedSecondsAgo?: number
}): V1Pod => ({
  metadata: {
    name: "p",
    namespace: "ns",
    ...(shape.owner
      ? {
          ownerReferences: [
            {
              apiVersion: shape.owner === "DaemonSet" ? "apps/v1" : "apps/v1",
              kind: shape.owner,
              name: "owner",
              uid: "u",
              controller: true
            }
          ]
        }
      : {}),
    ...(shape.mirror ? { annotations: { "kubernetes.io/config.mirror": "x" } } : {}),
    ...(shape.deletedSecondsAgo === undefined
      ? {}
      : { deletionTimestamp: new Date(Date.parse("2026-11-25T10:00:00Z") - shape.deletedSecondsAgo * 1000) })
  },
  spec: { containers: [], ...(shape.emptyDir ? { volumes: [{ name: "v", emptyDir: {} }] } : {}) },
  status: { phase: shape.phase ?? "Running" }
})

const verdictOf = (p: V1Pod, c: PodFilter.Context) => {
  const decision = PodFilter.decide(p, PodFilter.builtIn, c)
  return decision.verdict._tag === "Remove" || decision.verdict._tag === "RemoveWithWarning"
    ? `remove${decision.warnings.length > 0 ? `!${decision.warnings.length}` : ""}`
    : `${decision.verdict._tag.toLowerCase()}:${decision.verdict.reason}`
}

describe("PodFilter.decide: kubectl's decisions", () => {
  const table: ReadonlyArray<readonly [string, V1Pod, Partial<PodFilter.Context>, string]> = [
    ["ReplicaSet pod", pod({ owner: "ReplicaSet" }), {}, "remove"],
    ["DaemonSet pod", pod({ owner: "DaemonSet" }), {}, "refuse:DaemonSetPod"],
    ["DaemonSet pod, ignored", pod({ owner: "DaemonSet" }), { ignoreDaemonSets: true }, "skip:DaemonSetPod"],
    [
      "DaemonSet pod, DaemonSet gone",
      pod({ owner: "DaemonSet" }),
      { daemonSetExists: () => false },
      "refuse:OrphanedDaemonSetPod"
    ],
    [
      "DaemonSet pod, DaemonSet gone, forced",
      pod({ owner: "DaemonSet" }),
      { daemonSetExists: () => false, force: true },
      "remove!1"
    ],
    [
      "DaemonSet pod, lookup failed",
      pod({ owner: "DaemonSet" }),
      { daemonSetExists: () => "boom" },
      "refuse:DaemonSetLookupFailed"
    ],
    ["finished DaemonSet pod", pod({ owner: "DaemonSet", phase: "Succeeded" }), {}, "remove"],
    ["mirror pod", pod({ mirror: true }), {}, "skip:MirrorPod"],
    ["emptyDir pod", pod({ owner: "ReplicaSet", emptyDir: true }), {}, "refuse:LocalStorage"],
    [
      "emptyDir pod, allowed",
      pod({ owner: "ReplicaSet", emptyDir: true }),
      { deleteEmptyDirData: true },
      "remove!1"
    ],
    ["finished emptyDir pod", pod({ owner: "ReplicaSet", emptyDir: true, phase: "Failed" }), {}, "remove"],
    ["bare pod", pod({}), {}, "refuse:Unreplicated"],
    ["bare pod, forced", pod({}), { force: true }, "remove!1"],
    ["finished bare pod", pod({ phase: "Succeeded" }), {}, "remove"],
    [
      "bare emptyDir pod, allowed and forced",
      pod({ emptyDir: true }),
      { force: true, deleteEmptyDirData: true },
      "remove!2"
    ],
    [
      "pod terminating past the skip threshold",
      pod({ owner: "ReplicaSet", deletedSecondsAgo: 120 }),
      { skipWaitForDeleteTimeoutSeconds: 60 },
      "skip:DeletedLongAgo"
    ],
    [
      "pod terminating within the skip threshold",
      pod({ owner: "ReplicaSet", deletedSecondsAgo: 10 }),
      { skipWaitForDeleteTimeoutSeconds: 60 },
      "remove"
    ],
    [
      "orphaned DaemonSet mirror pod, forced",
      pod({ owner: "DaemonSet", mirror: true }),
      { daemonSetExists: () => false, force: true },
      "skip:MirrorPod"
    ]
  ]

  it.each(table)("%s", (_name, input, overrides, expected) => {
    expect(verdictOf(input, context(overrides))).toBe(expected)
  })

  it("keeps every warning, not only the last rule's", () => {
    const decision = PodFilter.decide(
      pod({ emptyDir: true }),
      PodFilter.builtIn,
      context({ force: true, deleteEmptyDirData: true })
    )
    expect(decision.warnings).toEqual([
      "deleting pods with local storage",
      "deleting pods that declare no controller"
    ])
  })

  it("runs additional filters after kubectl's", () => {
    const protect: PodFilter.PodFilter = (p) =>
      p.metadata?.labels?.protected === "true"
        ? PodFilter.skip("Protected", "protected by label")
        : PodFilter.remove
    const owned = pod({ owner: "ReplicaSet" })
    const protectedPod = { ...owned, metadata: { ...owned.metadata, labels: { protected: "true" } } }
    expect(PodFilter.decide(protectedPod, [...PodFilter.builtIn, protect], context()).verdict).toMatchObject({
      _tag: "Skip",
      reason: "Protected"
    })
  })
})
