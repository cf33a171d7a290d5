import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { InterruptionEvent, NodeAction } from "../src/index.ts"
import { encodedByKind, encodedEvent } from "./arbitraries.ts"

const sampleOf = <K extends InterruptionEvent.Kind>(kind: K, overrides: Record<string, unknown> = {}) => {
  const arbitrary: fc.Arbitrary<object> = encodedByKind[kind]
  const encoded = { ...fc.sample(arbitrary, { numRuns: 1, seed: 7 })[0]!, ...overrides }
  const result = InterruptionEvent.decode(encoded)
  if (result._tag === "Failure") throw new Error(result.failure.message)
  return result.success
}

const settings = (mode: NodeAction.Mode, overrides: Partial<NodeAction.Rules> = {}): NodeAction.Rules => ({
  ...NodeAction.defaultRules(mode),
  ...overrides
})

const tagOf = (event: InterruptionEvent.InterruptionEvent, s: NodeAction.Rules) =>
  NodeAction.decide(event, s)._tag

describe("NodeAction.decide", () => {
  // One row per kind and setting that changes the outcome: [kind, event overrides, mode, settings, expected].
  const table: ReadonlyArray<
    readonly [
      InterruptionEvent.Kind,
      Record<string, unknown>,
      NodeAction.Mode,
      Partial<NodeAction.Rules>,
      string
    ]
  > = [
    ["SpotInterruptionNotice", {}, "imds", {}, "CordonAndDrain"],
    ["SpotInterruptionNotice", {}, "imds", { enableSpotInterruptionDraining: false }, "Ignore"],
    ["SpotInterruptionNotice", {}, "queue", { enableSpotInterruptionDraining: false }, "CordonAndDrain"],
    ["SpotInterruptionNotice", {}, "imds", { cordonOnly: true }, "Cordon"],
    ["RebalanceRecommendation", {}, "imds", {}, "Ignore"],
    ["RebalanceRecommendation", {}, "imds", { enableRebalanceMonitoring: true }, "Cordon"],
    ["RebalanceRecommendation", {}, "imds", { enableRebalanceDraining: true }, "CordonAndDrain"],
    [
      "RebalanceRecommendation",
      {},
      "imds",
      { enableRebalanceMonitoring: true, enableRebalanceDraining: true },
      "CordonAndDrain"
    ],
    ["RebalanceRecommendation", {}, "queue", {}, "CordonAndDrain"],
    ["RebalanceRecommendation", {}, "queue", { cordonOnly: true }, "Cordon"],
    // Neither rebalance setting given: the switches' defaults do not turn queue mode's drain off.
    ["RebalanceRecommendation", {}, "queue", { enableRebalanceMonitoring: false }, "CordonAndDrain"],
    // Either given: honoured as in IMDS mode (the Go handler's #786).
    ["RebalanceRecommendation", {}, "queue", { rebalanceSettingsGiven: true }, "Ignore"],
    [
      "RebalanceRecommendation",
      {},
      "queue",
      { rebalanceSettingsGiven: true, enableRebalanceMonitoring: true },
      "Cordon"
    ],
    [
      "RebalanceRecommendation",
      {},
      "queue",
      { rebalanceSettingsGiven: true, enableRebalanceDraining: true },
      "CordonAndDrain"
    ],
    ["ScheduledMaintenance", { state: "active" }, "imds", {}, "CordonAndDrain"],
    ["ScheduledMaintenance", { state: "active" }, "imds", { enableScheduledEventDraining: false }, "Ignore"],
    ["ScheduledMaintenance", { state: "canceled" }, "imds", {}, "Uncordon"],
    ["ScheduledMaintenance", { state: "completed" }, "imds", {}, "Uncordon"],
    [
      "ScheduledMaintenance",
      { state: "canceled" },
      "imds",
      { enableScheduledEventDraining: false },
      "Ignore"
    ],
    ["ScheduledMaintenance", { state: "active" }, "imds", { cordonOnly: true }, "Cordon"],
    ["HealthScheduledChange", {}, "queue", {}, "CordonAndDrain"],
    ["HealthScheduledChange", {}, "queue", { cordonOnly: true }, "Cordon"],
    ["AsgLifecycleTermination", {}, "queue", {}, "CordonAndDrain"],
    ["AsgLifecycleTermination", {}, "queue", { cordonOnly: true }, "Cordon"],
    ["AsgLifecycleLaunch", {}, "queue", {}, "AwaitNodeReady"],
    ["AsgLifecycleLaunch", {}, "queue", { cordonOnly: true }, "AwaitNodeReady"],
    ["AsgTargetLifecycleState", {}, "imds", {}, "Ignore"],
    ["AsgTargetLifecycleState", {}, "imds", { enableAsgLifecycleDraining: true }, "CordonAndDrain"],
    ["AsgTargetLifecycleState", {}, "imds", { enableAsgLifecycleDraining: true, cordonOnly: true }, "Cordon"],
    ["InstanceStateChange", {}, "queue", {}, "CordonAndDrain"],
    ["InstanceStateChange", {}, "queue", { cordonOnly: true }, "Cordon"]
  ]

  it.each(table)("%s %j in %s mode with %j: %s", (kind, overrides, mode, extra, expected) => {
    expect(tagOf(sampleOf(kind, overrides), settings(mode, extra))).toBe(expected)
  })

  it("covers every kind in the table", () => {
    expect(new Set(table.map(([kind]) => kind))).toEqual(new Set(InterruptionEvent.kinds))
  })

  it("completes the lifecycle hook after an ASG termination, and only then", () => {
    const action = NodeAction.decide(sampleOf("AsgLifecycleTermination"), settings("queue"))
    expect(action).toMatchObject({ _tag: "CordonAndDrain", acknowledgement: "CompleteLifecycleAction" })
    expect(NodeAction.decide(sampleOf("InstanceStateChange"), settings("queue"))).toMatchObject({
      acknowledgement: "None"
    })
  })

  it("marks the node for uncordon after a scheduled reboot, stop or retirement, not after maintenance", () => {
    for (const code of ["instance-reboot", "system-reboot", "instance-stop", "instance-retirement"]) {
      expect(
        NodeAction.decide(sampleOf("ScheduledMaintenance", { code, state: "active" }), settings("imds"))
      ).toMatchObject({
        markUncordonAfterReboot: true
      })
    }
    expect(
      NodeAction.decide(
        sampleOf("ScheduledMaintenance", { code: "system-maintenance", state: "active" }),
        settings("imds")
      )
    ).toMatchObject({ markUncordonAfterReboot: false })
  })

  it("drains for a scheduled event code it does not know, without the uncordon-after-reboot mark", () => {
    expect(
      NodeAction.decide(
        sampleOf("ScheduledMaintenance", { code: "instance-relocate", state: "active" }),
        settings("imds")
      )
    ).toMatchObject({ _tag: "CordonAndDrain", markUncordonAfterReboot: false })
    expect(
      NodeAction.decide(sampleOf("SpotInterruptionNotice", { action: "pause" }), settings("imds"))._tag
    ).toBe("CordonAndDrain")
  })

  it("taints with the Go handler's key for the kind, the event id as value, only when taintNode is on", () => {
    const event = sampleOf("SpotInterruptionNotice", { id: `spot-itn-${"ab".repeat(40)}` })
    expect(NodeAction.decide(event, settings("imds"))).toMatchObject({ taint: undefined })
    const action = NodeAction.decide(event, settings("imds", { taintNode: true, taintEffect: "NoExecute" }))
    expect(action).toMatchObject({
      taint: {
        key: "aws-node-termination-handler/spot-itn",
        value: event.id.slice(0, 63),
        effect: "NoExecute"
      }
    })
  })

  describe("properties over every event and every combination of settings", () => {
    const anySettings = fc.record({
      mode: fc.constantFrom<NodeAction.Mode>("imds", "queue"),
      cordonOnly: fc.boolean(),
      enableSpotInterruptionDraining: fc.boolean(),
      enableScheduledEventDraining: fc.boolean(),
      enableRebalanceMonitoring: fc.boolean(),
      enableRebalanceDraining: fc.boolean(),
      enableAsgLifecycleDraining: fc.boolean(),
      taintNode: fc.boolean(),
      taintEffect: fc.constantFrom<NodeAction.TaintEffect>("NoSchedule", "PreferNoSchedule", "NoExecute")
    })
    const decoded = encodedEvent.map((encoded) => {
      const result = InterruptionEvent.decode(encoded)
      if (result._tag === "Failure") throw new Error(result.failure.message)
      return result.success
    })

    it("cordon-only never drains", () => {
      fc.assert(
        fc.property(decoded, anySettings, (event, s) => {
          expect(NodeAction.decide(event, { ...s, cordonOnly: true })._tag).not.toBe("CordonAndDrain")
        })
      )
    })

    it("queue mode ignores nothing: the IMDS switches don't apply there (nor rebalance's, unless set)", () => {
      fc.assert(
        fc.property(decoded, anySettings, (event, s) => {
          expect(
            NodeAction.decide(event, { ...s, mode: "queue", rebalanceSettingsGiven: false })._tag
          ).not.toBe("Ignore")
        })
      )
    })

    it("only the restart codes mark a scheduled event for uncordon after reboot, whatever the code", () => {
      fc.assert(
        fc.property(encodedByKind.ScheduledMaintenance, anySettings, (encoded, s) => {
          const event = InterruptionEvent.decode({ ...encoded, state: "active" })
          if (event._tag === "Failure") throw new Error(event.failure.message)
          const action = NodeAction.decide(event.success, { ...s, enableScheduledEventDraining: true })
          if (action._tag !== "Cordon" && action._tag !== "CordonAndDrain") throw new Error(action._tag)
          const restart = ["instance-reboot", "system-reboot", "instance-stop", "instance-retirement"]
          expect(action.markUncordonAfterReboot).toBe(restart.includes(encoded.code))
        })
      )
    })

    it("a taint is a valid Kubernetes taint", () => {
      fc.assert(
        fc.property(decoded, anySettings, (event, s) => {
          const action = NodeAction.decide(event, { ...s, taintNode: true })
          if (action._tag !== "Cordon" && action._tag !== "CordonAndDrain") return
          if (action.taint === undefined) return
          expect(action.taint.value).toMatch(/^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/)
        })
      )
    })
  })
})

describe("NodeAction: the node's nth.aws/rebalance-action label", () => {
  const rebalance = () => sampleOf("RebalanceRecommendation")

  it.each([
    ["imds", {}, "drain", "CordonAndDrain"],
    ["imds", { enableRebalanceDraining: true }, "cordon", "Cordon"],
    ["imds", { enableRebalanceDraining: true }, "ignore", "Ignore"],
    ["queue", {}, "cordon", "Cordon"],
    ["queue", {}, "ignore", "Ignore"],
    ["queue", { rebalanceSettingsGiven: true }, "drain", "CordonAndDrain"],
    ["imds", { cordonOnly: true }, "drain", "Cordon"]
  ] as const)("%s mode, settings %j, label %s: %s", (mode, overrides, choice, expected) => {
    expect(NodeAction.decide(rebalance(), settings(mode, overrides), { rebalance: choice })._tag).toBe(
      expected
    )
  })

  it("applies to rebalance recommendations only", () => {
    expect(
      NodeAction.decide(sampleOf("SpotInterruptionNotice"), settings("imds"), { rebalance: "ignore" })._tag
    ).toBe("CordonAndDrain")
  })

  it.each([
    [undefined, { _tag: "None" }],
    [{}, { _tag: "None" }],
    [{ "nth.aws/rebalance-action": "drain" }, { _tag: "Choice", choice: "drain" }],
    [{ "nth.aws/rebalance-action": " Cordon " }, { _tag: "Choice", choice: "cordon" }],
    [{ "nth.aws/rebalance-action": "IGNORE" }, { _tag: "Choice", choice: "ignore" }],
    [{ "nth.aws/rebalance-action": "sometimes" }, { _tag: "Unknown", value: "sometimes" }],
    [{ "nth.aws/rebalance-action": "" }, { _tag: "Unknown", value: "" }]
  ])("reads %j as %j", (labels, expected) => {
    expect(NodeAction.rebalanceChoiceOf(labels)).toEqual(expected)
  })
})
