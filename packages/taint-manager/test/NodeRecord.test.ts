import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { NodeRecord } from "../src/index.ts"
import { node } from "./support.ts"

const record: NodeRecord.NodeRecord = {
  version: 1,
  events: [{ id: "instance-event-1", kind: "ScheduledMaintenance", at: new Date("2026-11-25T10:00:00Z") }],
  unschedulableBefore: false,
  uncordonAfterReboot: { eventId: "instance-event-1", at: new Date("2026-11-25T10:00:00Z") },
  cordoned: { byNth: true, at: new Date("2026-11-25T10:00:01Z") },
  taints: [
    {
      key: "aws-node-termination-handler/scheduled-maintenance",
      value: "instance-event-1",
      effect: "NoSchedule",
      at: new Date("2026-11-25T10:00:00Z")
    }
  ],
  excludedFromLoadBalancers: { at: new Date("2026-11-25T10:00:01Z") },
  drain: { startedAt: new Date("2026-11-25T10:00:02Z"), finishedAt: new Date("2026-11-25T10:01:00Z") }
}

describe("NodeRecord", () => {
  it("round-trips through its annotation as plain JSON", () => {
    const json = NodeRecord.encode(record)
    expect(JSON.parse(json)).toMatchObject({
      version: 1,
      cordoned: { byNth: true, at: "2026-11-25T10:00:01.000Z" }
    })
    expect(NodeRecord.decode("n", json)).toEqual(Result.succeed(record))
    const read = NodeRecord.read(node({ annotations: { [NodeRecord.recordAnnotation]: json } }))
    expect(read).toEqual({ record, source: "annotation" })
  })

  it("ignores fields it does not know (a newer nth's record still reads)", () => {
    const json = JSON.stringify({ ...JSON.parse(NodeRecord.encode(record)), futureField: [1, 2] })
    expect(Result.isSuccess(NodeRecord.decode("n", json))).toBe(true)
  })

  it.each([
    ["not JSON", "{oops", "Expected a valid JSON string"],
    [
      "a bad date",
      JSON.stringify({ ...JSON.parse(NodeRecord.encode(record)), drain: { startedAt: "soon" } }),
      "startedAt"
    ],
    ["a missing field", JSON.stringify({ version: 1, events: [] }), "unschedulableBefore"],
    ["another version", JSON.stringify({ ...JSON.parse(NodeRecord.encode(record)), version: 2 }), "version"]
  ])("reports %s as malformed, without throwing", (_, raw, message) => {
    const read = NodeRecord.read(node({ annotations: { [NodeRecord.recordAnnotation]: raw } }))
    expect(read.record).toBeUndefined()
    expect(read.malformed?._tag).toBe("MalformedRecord")
    expect(read.malformed?.raw).toBe(raw)
    expect(read.malformed?.nodeName).toBe("ip-10-0-0-1.ec2.internal")
    expect(read.malformed?.message).toContain(message)
  })

  it("reads nothing from a node without marks", () => {
    expect(
      NodeRecord.read(node({ labels: { a: "b" }, taints: [{ key: "x", effect: "NoSchedule" }] }))
    ).toEqual({
      record: undefined,
      source: undefined
    })
  })

  it("reads the Go handler's marks as a record", () => {
    const goNode = node({
      labels: {
        "aws-node-termination-handler/event-id": "instance-event-1",
        "aws-node-termination-handler/action": "UncordonAfterReboot",
        "aws-node-termination-handler/action-time": "1795600000",
        "node.kubernetes.io/exclude-from-external-load-balancers": "aws-node-termination-handler"
      },
      taints: [
        {
          key: "aws-node-termination-handler/scheduled-maintenance",
          value: "instance-event-1",
          effect: "NoSchedule"
        },
        { key: "other.example/x", value: "1", effect: "NoSchedule" }
      ],
      unschedulable: true
    })
    const at = new Date(1795600000 * 1000)
    expect(NodeRecord.read(goNode)).toEqual({
      source: "handlerMarks",
      record: {
        version: 1,
        events: [{ id: "instance-event-1", at }],
        unschedulableBefore: false,
        uncordonAfterReboot: { eventId: "instance-event-1", at },
        cordoned: { byNth: true, at },
        taints: [
          {
            key: "aws-node-termination-handler/scheduled-maintenance",
            value: "instance-event-1",
            effect: "NoSchedule"
          }
        ],
        excludedFromLoadBalancers: {}
      }
    })
  })

  it("without the action label, the Go handler's cordon is not its own and no uncordon is asked", () => {
    const goNode = node({ labels: { "aws-node-termination-handler/event-id": "e-1" }, unschedulable: true })
    expect(NodeRecord.read(goNode).record).toEqual({
      version: 1,
      events: [{ id: "e-1" }],
      unschedulableBefore: true,
      taints: []
    })
  })

  it("falls back to the Go handler's marks when the annotation is malformed, and says so", () => {
    const read = NodeRecord.read(
      node({
        annotations: { [NodeRecord.recordAnnotation]: "garbage" },
        taints: [{ key: "aws-node-termination-handler/spot-itn", value: "s", effect: "NoSchedule" }]
      })
    )
    expect(read.source).toBe("handlerMarks")
    expect(read.record?.taints).toHaveLength(1)
    expect(read.malformed?._tag).toBe("MalformedRecord")
  })

  it("lists the Go handler's four taint keys", () => {
    expect([...NodeRecord.handlerTaintKeys].sort()).toEqual([
      "aws-node-termination-handler/asg-lifecycle-termination",
      "aws-node-termination-handler/rebalance-recommendation",
      "aws-node-termination-handler/scheduled-maintenance",
      "aws-node-termination-handler/spot-itn"
    ])
  })

  it.each([
    {
      case: "drained after the event was listed",
      step: "drain",
      finishedAt: "2026-11-25T10:01:00Z",
      done: true
    },
    { case: "a drain started, not finished", step: "drain", finishedAt: undefined, done: false },
    { case: "an older drain only", step: "drain", finishedAt: "2026-11-25T09:00:00Z", done: false },
    { case: "cordoned after the event was listed", step: "cordon", finishedAt: undefined, done: true }
  ] as const)("isDoneFor: $case is $done", ({ step, finishedAt, done }) => {
    const { finishedAt: _, ...started } = record.drain ?? { startedAt: new Date() }
    const drain = finishedAt === undefined ? started : { ...started, finishedAt: new Date(finishedAt) }
    expect(NodeRecord.isDoneFor({ ...record, drain }, "instance-event-1", step)).toBe(done)
    expect(NodeRecord.isDoneFor({ ...record, drain }, "instance-event-2", step)).toBe(false)
  })
})
