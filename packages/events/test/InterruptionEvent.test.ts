import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { InterruptionEvent } from "../src/index.ts"
import { encodedByKind, encodedEvent } from "./arbitraries.ts"

const decodeOrThrow = (input: unknown) => {
  const result = InterruptionEvent.decode(input)
  if (result._tag === "Failure") throw new Error(result.failure.message)
  return result.success
}

const failureMessage = (input: unknown): string => {
  const result = InterruptionEvent.decode(input)
  if (result._tag === "Success") throw new Error(`expected a failure for ${JSON.stringify(input)}`)
  return result.failure.message
}

describe("InterruptionEvent", () => {
  it("has a generator for every kind", () => {
    expect(Object.keys(encodedByKind).sort()).toEqual([...InterruptionEvent.kinds].sort())
  })

  it("decodes every kind and encodes back to the same JSON", () => {
    fc.assert(
      fc.property(encodedEvent, (encoded) => {
        const event = decodeOrThrow(encoded)
        expect(event.kind).toBe(encoded.kind)
        expect(InterruptionEvent.encode(event)).toEqual(encoded)
      }),
      { numRuns: 500 }
    )
  })

  it("round-trips through a JSON text", () => {
    fc.assert(
      fc.property(encodedEvent, (encoded) => {
        const result = InterruptionEvent.decodeJson(JSON.stringify(encoded))
        expect(result._tag).toBe("Success")
        if (result._tag === "Success") expect(InterruptionEvent.encode(result.success)).toEqual(encoded)
      })
    )
  })

  it("gives times as Dates", () => {
    fc.assert(
      fc.property(encodedEvent, (encoded) => {
        const event = decodeOrThrow(encoded)
        expect(event.startTime).toBeInstanceOf(Date)
        expect(event.startTime.toISOString()).toBe(encoded.startTime)
      })
    )
  })

  describe("rejects malformed input, naming the field", () => {
    // Not the instance id: IMDS mode acts on its own node even when IMDS cannot tell it.
    const requiredCommon = ["id", "monitor", "startTime", "description"] as const

    it("an event without its instance id", () => {
      fc.assert(
        fc.property(encodedEvent, (encoded) => {
          const { instanceId: _removed, ...rest } = encoded
          const decoded = InterruptionEvent.decode(rest)
          expect(decoded._tag).toBe("Success")
          if (decoded._tag === "Success") expect(decoded.success.instanceId).toBeUndefined()
        })
      )
    })

    it("a missing required field", () => {
      fc.assert(
        fc.property(encodedEvent, fc.constantFrom(...requiredCommon), (encoded, field) => {
          const { [field]: _removed, ...rest } = encoded
          const message = failureMessage(rest)
          expect(message).toContain(`["${field}"]`)
          expect(message).toMatch(/Missing key/)
        })
      )
    })

    it("a field of the wrong type", () => {
      fc.assert(
        fc.property(
          encodedEvent,
          fc.constantFrom(...requiredCommon),
          fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant([])),
          (encoded, field, wrong) => {
            const message = failureMessage({ ...encoded, [field]: wrong })
            expect(message).toContain(`["${field}"]`)
          }
        )
      )
    })

    it("a malformed time", () => {
      fc.assert(
        fc.property(
          encodedEvent,
          fc.constantFrom("soon", "", "2026-13-45T99:00:00Z", "tomorrow"),
          (encoded, bad) => {
            expect(failureMessage({ ...encoded, startTime: bad })).toContain('["startTime"]')
          }
        )
      )
    })

    it("a malformed instance id", () => {
      fc.assert(
        fc.property(
          encodedEvent,
          fc.constantFrom("i-123", "I-0123456789ABCDEF0", "0123456789abcdef0", "i-zzzzzzzz"),
          (encoded, bad) => {
            const message = failureMessage({ ...encoded, instanceId: bad })
            expect(message).toContain('["instanceId"]')
            expect(message).toContain("EC2 instance id")
          }
        )
      )
    })

    it("a field the kind does not have", () => {
      fc.assert(
        fc.property(encodedEvent, (encoded) => {
          expect(failureMessage({ ...encoded, startTme: encoded.startTime })).toContain('["startTme"]')
        })
      )
    })

    it("an unknown kind, listing the known ones", () => {
      fc.assert(
        fc.property(
          encodedEvent,
          fc.string().filter((kind) => !(InterruptionEvent.kinds as ReadonlyArray<string>).includes(kind)),
          (encoded, kind) => {
            const message = failureMessage({ ...encoded, kind })
            expect(message).toContain(`Unknown event kind ${JSON.stringify(kind)}`)
            expect(message).toContain("SpotInterruptionNotice")
            expect(message).toContain('["kind"]')
          }
        )
      )
    })

    it("every problem at once", () => {
      const message = failureMessage({
        kind: "SpotInterruptionNotice",
        id: "",
        monitor: "SPOT_ITN_MONITOR",
        instanceId: "i-nope",
        startTime: "soon",
        description: "x",
        action: ""
      })
      for (const field of ["id", "instanceId", "startTime", "action"])
        expect(message).toContain(`["${field}"]`)
    })

    it("a Spot action or a scheduled event code that is empty or not text", () => {
      const fieldOf = { SpotInterruptionNotice: "action", ScheduledMaintenance: "code" } as const
      fc.assert(
        fc.property(
          fc.oneof(encodedByKind.SpotInterruptionNotice, encodedByKind.ScheduledMaintenance),
          fc.oneof(fc.constant(""), fc.integer(), fc.constant(null), fc.constant([])),
          (encoded, bad) => {
            const field = fieldOf[encoded.kind]
            expect(failureMessage({ ...encoded, [field]: bad })).toContain(`["${field}"]`)
          }
        )
      )
    })

    it("values that are not objects", () => {
      for (const input of [null, undefined, 42, "SpotInterruptionNotice", []]) {
        expect(InterruptionEvent.decode(input)._tag).toBe("Failure")
      }
      expect(failureMessage({})).toContain('["kind"]')
    })

    it("text that is not JSON", () => {
      const result = InterruptionEvent.decodeJson("{not json")
      expect(result._tag).toBe("Failure")
    })
  })

  it("accepts a Spot action or a scheduled event code AWS may add later, as the Go handler does", () => {
    fc.assert(
      fc.property(
        encodedByKind.SpotInterruptionNotice,
        encodedByKind.ScheduledMaintenance,
        fc.string({ minLength: 1 }),
        (spot, scheduled, text) => {
          expect(decodeOrThrow({ ...spot, action: text })).toMatchObject({ action: text })
          expect(decodeOrThrow({ ...scheduled, code: text })).toMatchObject({ code: text })
        }
      )
    )
  })

  it("accepts a kind-specific field only on its kind", () => {
    const spot = fc.sample(encodedByKind.SpotInterruptionNotice, 1)[0]!
    expect(failureMessage({ ...spot, state: "stopping" })).toContain('["state"]')
  })
})
