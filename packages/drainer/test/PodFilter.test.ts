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

describe("PodFilter: per-pod choices by annotation", () => {
  const { annotations } = PodFilter
  const annotated = (values: Record<string, string>, base: V1Pod = pod({ owner: "ReplicaSet" })): V1Pod => ({
    ...base,
    metadata: { ...base.metadata, annotations: { ...base.metadata?.annotations, ...values } }
  })
  const withAnnotations = [
    PodFilter.doNotEvict,
    ...PodFilter.builtIn,
    PodFilter.evictLast,
    PodFilter.annotatedGracePeriod
  ]
  const decideAnnotated = (p: V1Pod, c: PodFilter.Context = context()) =>
    PodFilter.decide(p, withAnnotations, c)

  it("names the annotations once", () => {
    expect(annotations).toEqual({
      gracePeriodSeconds: "nth.aws/drain-grace-period-seconds",
      evictLast: "nth.aws/evict-last",
      doNotEvict: "nth.aws/do-not-evict"
    })
  })

  it.each([
    ["true", "Skip"],
    [" TRUE ", "Skip"],
    ["True", "Skip"],
    ["false", "Remove"],
    [" False", "Remove"]
  ])("do-not-evict %j: %s", (value, tag) => {
    expect(PodFilter.doNotEvict(annotated({ [annotations.doNotEvict]: value }), context())._tag).toBe(tag)
  })

  it("skips a do-not-evict pod with a stable reason and a message naming the annotation", () => {
    const verdict = PodFilter.doNotEvict(annotated({ [annotations.doNotEvict]: "true" }), context())
    expect(verdict).toMatchObject({ _tag: "Skip", reason: "DoNotEvict" })
    expect(verdict._tag === "Skip" && verdict.message).toContain("nth.aws/do-not-evict")
  })

  it("lets pods without the annotations go unchanged", () => {
    const plain = pod({ owner: "ReplicaSet" })
    for (const filter of [PodFilter.doNotEvict, PodFilter.evictLast, PodFilter.annotatedGracePeriod])
      expect(filter(plain, context())).toEqual(PodFilter.remove)
    const decision = decideAnnotated(plain)
    expect(decision).toEqual({ pod: plain, verdict: PodFilter.remove, warnings: [] })
  })

  it("puts a do-not-evict pod before kubectl's refusals", () => {
    const cases: ReadonlyArray<V1Pod> = [
      pod({}), // no controller, no force
      pod({ owner: "ReplicaSet", emptyDir: true }), // emptyDir, no deleteEmptyDirData
      pod({ owner: "DaemonSet" }), // DaemonSet pod, no ignoreDaemonSets
      pod({ owner: "DaemonSet" }) // DaemonSet gone, no force (with the context below)
    ]
    for (const [i, base] of cases.entries()) {
      const c = context(i === 3 ? { daemonSetExists: () => false } : {})
      expect(verdictOf(base, c)).toMatch(/^refuse:/)
      expect(decideAnnotated(annotated({ [annotations.doNotEvict]: "true" }, base), c).verdict).toMatchObject(
        {
          _tag: "Skip",
          reason: "DoNotEvict"
        }
      )
    }
  })

  it("as an additional filter, do-not-evict comes after kubectl's refusals", () => {
    const bare = annotated({ [annotations.doNotEvict]: "true" }, pod({}))
    expect(
      PodFilter.decide(bare, [...PodFilter.builtIn, PodFilter.doNotEvict], context()).verdict
    ).toMatchObject({ _tag: "Refuse", reason: "Unreplicated" })
  })

  it("folds evict-last and the annotated grace into the decision", () => {
    const decision = decideAnnotated(
      annotated({ [annotations.evictLast]: "true", [annotations.gracePeriodSeconds]: " 120 " })
    )
    expect(decision).toMatchObject({
      verdict: { _tag: "Remove" },
      warnings: [],
      evictLast: true,
      gracePeriodSeconds: 120
    })
    expect(decideAnnotated(annotated({ [annotations.gracePeriodSeconds]: "0" })).gracePeriodSeconds).toBe(1)
    expect(decideAnnotated(annotated({ [annotations.evictLast]: "false" })).evictLast).toBeUndefined()
  })

  it("keeps kubectl's warnings alongside the adjustments", () => {
    const decision = decideAnnotated(
      annotated({ [annotations.gracePeriodSeconds]: "7" }, pod({ emptyDir: true })),
      context({ force: true, deleteEmptyDirData: true })
    )
    expect(decision.warnings).toHaveLength(2)
    expect(decision.gracePeriodSeconds).toBe(7)
  })

  it.each([
    [annotations.doNotEvict, "yes"],
    [annotations.evictLast, "1"],
    [annotations.gracePeriodSeconds, "-5"],
    [annotations.gracePeriodSeconds, "1.5"],
    [annotations.gracePeriodSeconds, "30s"],
    [annotations.gracePeriodSeconds, ""],
    [annotations.gracePeriodSeconds, "99999999999999999999"]
  ])("ignores %s: %j with a warning naming it", (key, value) => {
    const decision = decideAnnotated(annotated({ [key]: value }))
    expect(decision.verdict._tag).toBe("Remove")
    expect(decision.gracePeriodSeconds).toBeUndefined()
    expect(decision.evictLast).toBeUndefined()
    expect(decision.warnings).toHaveLength(1)
    expect(decision.warnings[0]).toContain(key)
    expect(decision.warnings[0]).toContain(JSON.stringify(value))
  })

  it("lets later rules' adjustments win, and keeps those of rules that set nothing", () => {
    const longer: PodFilter.PodFilter = () => PodFilter.removeAdjusted({ gracePeriodSeconds: 300 })
    const warned: PodFilter.PodFilter = () =>
      PodFilter.removeWithWarning("Mine", "careful", { evictLast: false })
    const decision = PodFilter.decide(
      annotated({ [annotations.gracePeriodSeconds]: "10", [annotations.evictLast]: "true" }),
      [...withAnnotations, longer, warned],
      context()
    )
    expect(decision).toMatchObject({ gracePeriodSeconds: 300, evictLast: false, warnings: ["careful"] })
  })
})
