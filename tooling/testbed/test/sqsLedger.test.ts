/**
 * The SQS ledger's reading of the proxy's log: which deletes are a consumer's defect (a receipt handle deleted again
 * after its consumer heard the delete succeed) and which are right (a delete sent again after its answer was lost,
 * and one delete by each receiver of a redelivered message). Synthetic logs: no emulator needed.
 */
import { describe, expect, it } from "vitest"
import { AwsFaults } from "../src/index.ts"

const receive = (messages: ReadonlyArray<[id: string, handle: string]>): AwsFaults.Logged => ({
  operation: "ReceiveMessage",
  status: 200,
  action: "forwarded",
  body: "{}",
  answer: JSON.stringify({
    Messages: messages.map(([MessageId, ReceiptHandle]) => ({
      MessageId,
      ReceiptHandle,
      Body: `body of ${MessageId}`
    }))
  }),
  at: 0,
  delivered: true
})
const deleteBatch = (handles: ReadonlyArray<string>, delivered: boolean): AwsFaults.Logged => ({
  operation: "DeleteMessageBatch",
  status: 200,
  action: "forwarded",
  body: JSON.stringify({ Entries: handles.map((ReceiptHandle, i) => ({ Id: String(i), ReceiptHandle })) }),
  answer: JSON.stringify({ Successful: handles.map((_, i) => ({ Id: String(i) })), Failed: [] }),
  at: 0,
  delivered
})

describe("sqsLedger", () => {
  it("a delete sent again after its answer was lost is not a double delete", () => {
    const ledger = AwsFaults.sqsLedger([
      receive([["m1", "h1"]]),
      deleteBatch(["h1"], false),
      deleteBatch(["h1"], true)
    ])
    expect(ledger.deleted.get("m1")).toBe(2)
    expect([...ledger.deletedAgain.keys()]).toEqual([])
  })

  it("each receiver of a redelivered message deletes it under its own handle", () => {
    const ledger = AwsFaults.sqsLedger([
      receive([["m1", "h1"]]),
      receive([["m1", "h2"]]),
      deleteBatch(["h2"], true),
      deleteBatch(["h1"], true)
    ])
    expect(ledger.received.get("m1")).toBe(2)
    expect([...ledger.deletedAgain.keys()]).toEqual([])
  })

  it("a handle deleted again after its consumer heard the delete succeed is flagged", () => {
    const ledger = AwsFaults.sqsLedger([
      receive([
        ["m1", "h1"],
        ["m2", "h2"]
      ]),
      deleteBatch(["h1", "h2"], true),
      deleteBatch(["h1"], true)
    ])
    expect([...ledger.deletedAgain.keys()]).toEqual(["m1"])
    expect(ledger.deleted.get("m2")).toBe(1)
    expect(ledger.bodies.get("m1")).toBe("body of m1")
  })
})
