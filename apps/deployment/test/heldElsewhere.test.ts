/**
 * When a message whose node another replica holds comes back: just after the claim lapses, within bounds.
 */
import { Duration } from "effect"
import { describe, expect, it } from "vitest"
import * as Messages from "../src/Messages.ts"

const now = Date.parse("2026-12-04T12:00:00Z")
const seconds = (d: Duration.Duration) => Duration.toSeconds(d)

describe("heldElsewhereRelease", () => {
  it.each([
    { case: "a claim lapsing in 20 s", until: now + 20_000, expected: 21 },
    { case: "a claim lapsed already (clock skew)", until: now - 5_000, expected: 2 },
    { case: "a claim lapsing in 10 minutes (a long lease)", until: now + 600_000, expected: 60 }
  ])("$case: back after $expected s", ({ until, expected }) => {
    expect(seconds(Messages.heldElsewhereRelease(new Date(until), now))).toBe(expected)
  })

  it("an unknown claim end: 10 s, whatever the receive count", () => {
    expect(seconds(Messages.heldElsewhereRelease(undefined, now))).toBe(10)
  })
})
