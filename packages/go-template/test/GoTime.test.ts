import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { GoTemplate, GoTime } from "../src/index.ts"

// Expected texts are Go's (time.Time.String and Format), recorded with the test bed's template oracle.
describe("GoTime", () => {
  const t = new GoTime.GoTime({ epochNanos: 1796378400120000000n })

  it("prints like Go's time.Time.String, trailing zeros of the fraction trimmed", () => {
    expect(t.toString()).toBe("2026-12-04 10:00:00.12 +0000 UTC")
    expect(GoTime.fromDate(new Date("2026-12-04T10:00:00Z")).toString()).toBe("2026-12-04 10:00:00 +0000 UTC")
    expect(GoTime.zero.toString()).toBe("0001-01-01 00:00:00 +0000 UTC")
    expect(GoTime.zero.isZero()).toBe(true)
    expect(GoTime.fromUnix(0).isZero()).toBe(false)
  })

  it("formats Go's layout language", () => {
    expect(
      t.format(
        "Mon Monday Jan January 1 01 2 02 _2 06 2006 3 03 15 4 04 5 05 PM pm .000 .999 ,000000 MST -0700 -07:00 -07 Z07:00 Z0700 002 __2 ___2"
      )
    ).toBe(
      "Fri Friday Dec December 12 12 4 04  4 26 2026 10 10 10 0 00 0 00 AM am .120 .12 ,120000 UTC +0000 +00:00 +00 Z Z 338 338 _338"
    )
    expect(t.format("2006-01-02T15:04:05.999999999Z07:00")).toBe("2026-12-04T10:00:00.12Z")
    expect(GoTime.format(t, "Jan _2 15:04:05.000000")).toBe("Dec  4 10:00:00.120000")
  })

  it("keeps nanoseconds", () => {
    const precise = GoTime.fromDate(new Date("2026-03-14T09:26:53Z"), 123456789)
    expect(precise.format("05.000000000")).toBe("53.123456789")
    expect(precise.epochNanos).toBe(1773480413123456789n)
    expect(GoTime.fromUnix(-1, 500000000).toString()).toBe("1969-12-31 23:59:59.5 +0000 UTC")
  })

  it("shows fixed zones and IANA zones as Go does", () => {
    const offset = GoTime.fromDate(new Date("2026-03-08T09:30:00Z"), undefined, {
      name: "",
      offsetSeconds: -8 * 3600
    })
    expect(offset.toString()).toBe("2026-03-08 01:30:00 -0800 -0800")
    expect(offset.format("January 2, 2006 at 3:04:05 pm (MST)")).toBe("March 8, 2026 at 1:30:00 am (-0800)")
    const london = GoTime.fromDate(new Date("2026-03-29T01:00:00Z")).in("Europe/London")
    expect(london.format("2006-01-02 15:04:05 MST -0700")).toBe("2026-03-29 02:00:00 BST +0100")
    expect(GoTime.fromDate(new Date("2026-01-15T00:00:00Z")).in("Asia/Kolkata").format("MST -0700")).toBe(
      "IST +0530"
    )
    expect(
      GoTime.fromDate(new Date("2026-01-15T00:00:00Z")).in("America/Sao_Paulo").format("MST -0700")
    ).toBe("-03 -0300")
  })

  it("parses with Go's layouts and reports Go's errors", () => {
    expect(GoTime.parse("2006-01-02 15:04:05 -0700", "2026-03-08 01:30:00 -0800").toString()).toBe(
      "2026-03-08 01:30:00 -0800 -0800"
    )
    expect(GoTime.parse("2006-01-02", "0001-01-01").isZero()).toBe(true)
    expect(() => GoTime.parse("2006-01-02 15:04", "2026-01-01 25:00")).toThrow(
      'parsing time "2026-01-01 25:00": hour out of range'
    )
    expect(() => GoTime.parse("Jan 2 2006", "Foo 2 2026")).toThrow(
      'parsing time "Foo 2 2026" as "Jan 2 2006": cannot parse "Foo 2 2026" as "Jan"'
    )
  })

  it("formats durations as Go's time.Duration", () => {
    expect(GoTime.formatDuration(0n)).toBe("0s")
    expect(GoTime.formatDuration(1500n)).toBe("1.5µs")
    expect(GoTime.formatDuration(14213000000000n)).toBe("3h56m53s")
    expect(GoTime.formatDuration(-90000000000n)).toBe("-1m30s")
  })

  it("round-trips RFC 3339 through format and parse", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -62135596800n * 1000000000n, max: 253402300799n * 1000000000n }),
        (nanos) => {
          const time = new GoTime.GoTime({ epochNanos: nanos })
          const text = time.format("2006-01-02T15:04:05.999999999Z07:00")
          expect(GoTime.parse("2006-01-02T15:04:05.999999999Z07:00", text).epochNanos).toBe(nanos)
          expect(text.slice(0, 19)).toBe(time.toDate().toISOString().slice(0, 19).replace(/^\+0*/, ""))
        }
      ),
      { numRuns: 200 }
    )
  })

  it("serves its methods to templates", () => {
    const start = GoTime.fromDate(new Date("2024-12-31T23:59:59Z"))
    expect(
      GoTemplate.render(
        '{{ .YearDay }} {{ .Format "002" }} {{ (.Add 1000000000).Format "2006-01-02 15:04:05" }} {{ (.AddDate 0 2 0).Format "2006-01-02" }}',
        start
      )
    ).toBe("366 366 2025-01-01 00:00:00 2025-03-03")
    expect(GoTemplate.render("{{ toJson . }} {{ .Location }} {{ (.Sub .) }}", start)).toBe(
      '"2024-12-31T23:59:59Z" UTC 0s'
    )
  })
})
