/**
 * Whatever arrives on the queue, `decode` answers with a `Result`: it never throws, and whatever events it makes
 * are valid events of the shared model. Bodies are arbitrary text, arbitrary JSON, and real messages (the
 * fixtures) with one or more fields deleted, replaced or retyped, possibly wrapped in SNS or cut short.
 */
import { describe, expect, it } from "@effect/vitest"
import { InterruptionEvent } from "@nth/events"
import { Result, Schema } from "effect"
import fc from "fast-check"
import { QueueMessage, QueueMessageError } from "../src/index.ts"
import { body, fixtureNames, inSns, json } from "./fixtures.ts"

const now = new Date("2026-11-25T12:00:00.000Z")
const isEvent = Schema.is(InterruptionEvent.InterruptionEvent)

/** What must hold of every answer. */
const check = (text: string): void => {
  let result: Result.Result<QueueMessage.Decoded, QueueMessageError.QueueMessageError>
  try {
    result = QueueMessage.decode(text, { now })
  } catch (thrown) {
    throw new Error(`decode threw on ${JSON.stringify(text).slice(0, 300)}: ${String(thrown)}`)
  }
  expect(Result.isResult(result)).toBe(true)
  if (Result.isFailure(result)) {
    expect(result.failure).toBeInstanceOf(QueueMessageError.QueueMessageError)
    expect(["NotJson", "UnknownKind", "Malformed"]).toContain(result.failure.reason)
    expect(result.failure.message).not.toBe("")
    return
  }
  const decoded = result.success
  if (decoded._tag === "Ignored") expect(decoded.reason).not.toBe("")
  if (decoded._tag !== "Events") return
  expect(decoded.events.length).toBeGreaterThan(0)
  for (const event of decoded.events) {
    expect(isEvent(event)).toBe(true)
    expect(event.monitor).toBe("SQS_MONITOR")
    expect(event.instanceId).toBeDefined()
    expect(Number.isNaN(event.startTime.getTime())).toBe(false)
  }
  expect(new Set(decoded.events.map((event) => event.id)).size).toBe(decoded.events.length)
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations of real messages
// ---------------------------------------------------------------------------------------------------------------

type Path = ReadonlyArray<string | number>

/** Every path to a value inside `value` (the root excluded). */
const pathsOf = (value: unknown, prefix: Path = []): Array<Path> => {
  if (typeof value !== "object" || value === null) return []
  const entries: Array<readonly [string | number, unknown]> = Array.isArray(value)
    ? value.map((item, index) => [index, item] as const)
    : Object.entries(value)
  return entries.flatMap(([key, child]) => [[...prefix, key], ...pathsOf(child, [...prefix, key])])
}

type Mutation =
  | { readonly op: "delete"; readonly pick: number }
  | { readonly op: "replace"; readonly pick: number; readonly value: unknown }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("delete" as const), pick: fc.nat() }),
  fc.record({
    op: fc.constant("replace" as const),
    pick: fc.nat(),
    value: fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      // Values close to the real ones: other instance ids, transitions, states, times, and empty text.
      fc.constantFrom(
        "",
        "i-42",
        "i-0123456789abcdef0",
        "autoscaling:EC2_INSTANCE_TERMINATING",
        "autoscaling:EC2_INSTANCE_LAUNCHING",
        "autoscaling:TEST_NOTIFICATION",
        "EC2 Spot Instance Interruption Warning",
        "AWS Health Event",
        "aws.ec2",
        "aws.autoscaling",
        "aws.health",
        "stopping",
        "EC2",
        "scheduledChange",
        "2026-13-45T99:99:99Z",
        null,
        [],
        {}
      )
    )
  })
)

const apply = (message: unknown, change: Mutation): unknown => {
  const copy = structuredClone(message)
  const paths = pathsOf(copy)
  if (paths.length === 0) return copy
  const path = paths[change.pick % paths.length] as Path
  let parent = copy as Record<string | number, unknown>
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>
  const last = path[path.length - 1] as string | number
  if (change.op === "delete") {
    if (Array.isArray(parent)) parent.splice(last as number, 1)
    else delete parent[last]
  } else {
    parent[last] = change.value
  }
  return copy
}

/** A fixture changed in a few places, then maybe wrapped in SNS (by value or as a JSON string) or cut short. */
const mutated: fc.Arbitrary<string> = fc
  .record({
    name: fc.constantFrom(...fixtureNames),
    changes: fc.array(mutation, { minLength: 1, maxLength: 4 }),
    wrap: fc.constantFrom("none", "sns", "sns-object"),
    cut: fc.option(fc.nat(), { freq: 5 })
  })
  .map(({ name, changes, wrap, cut }) => {
    const message = changes.reduce<unknown>(apply, json(name))
    const text =
      wrap === "sns"
        ? inSns(JSON.stringify(message))
        : wrap === "sns-object"
          ? JSON.stringify({ Type: "Notification", Message: message })
          : JSON.stringify(message)
    return cut === null ? text : text.slice(0, cut % (text.length + 1))
  })

describe("decode never throws and always answers with a Result", () => {
  it("on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => check(text)),
      {
        numRuns: 500
      }
    )
  })

  it("on arbitrary JSON", () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), (text) => check(text)),
      { numRuns: 500 }
    )
  })

  it("on arbitrary objects with the keys nth looks at", () => {
    const key = fc.constantFrom(
      "detail-type",
      "source",
      "detail",
      "id",
      "time",
      "Message",
      "Type",
      "Event",
      "LifecycleTransition",
      "RequestId",
      "EC2InstanceId"
    )
    fc.assert(
      fc.property(fc.dictionary(key, fc.jsonValue({ maxDepth: 2 })), (object) =>
        check(JSON.stringify(object))
      ),
      { numRuns: 500 }
    )
  })

  it("on mutated real messages", () => {
    fc.assert(
      fc.property(mutated, (text) => check(text)),
      { numRuns: 2000 }
    )
  })

  it("on every fixture as it is", () => {
    for (const name of fixtureNames) check(body(name))
  })
})
