import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import * as Uptime from "../src/Uptime.ts"

describe("Uptime", () => {
  it("reads the first field of /proc/uptime", () => {
    expect(Uptime.parse("350735.47 234388.90\n")).toBe(350735.47)
    expect(Uptime.parse("12 1")).toBe(12)
  })

  it("is unknown, never NaN, when the text is not an uptime", () => {
    for (const text of ["", "   ", "abc 12", "NaN 1", "-5 1", "12abc 1", "Infinity", "1e400"])
      expect(Uptime.parse(text)).toBeUndefined()
  })

  it("is unknown when the file cannot be read", () => {
    expect(Uptime.read(join(tmpdir(), "nth-no-such-uptime-file"))).toBeUndefined()
    const file = join(tmpdir(), `nth-uptime-garbage-${process.pid}`)
    writeFileSync(file, "garbage\n")
    expect(Uptime.read(file)).toBeUndefined()
    writeFileSync(file, "42.50 1.00\n")
    expect(Uptime.read(file)).toBe(42.5)
  })
})
