/**
 * Go's `time.Time` for templates: an instant with nanosecond precision and a location, printed, formatted and
 * queried (`.Format`, `.Unix`, `.Year`, …) exactly as Go does.
 *
 * Locations are UTC, `Local` (taken to be UTC: nth runs in UTC containers), fixed offsets
 * (`{ name: "CET", offsetSeconds: 3600 }`) or IANA zone names resolved with `Intl` (offsets exact, abbreviations
 * best effort).
 *
 * @since 0.4.0
 */
import * as time from "./internal/time.ts"
import { GoError, type GoFunc, GoNumber, type GoType, goType, intOf, T } from "./internal/values.ts"

/**
 * A location: a zone name (its abbreviation when fixed) and its offset east of UTC.
 *
 * @category models
 * @since 0.4.0
 */
export interface FixedLocation {
  readonly name: string
  readonly offsetSeconds: number
}

const NANOS = 1000000000n
// Seconds from 0001-01-01 to 1970-01-01.
const zeroUnix = -62135596800

const toLocation = (loc: FixedLocation | string | time.Location | undefined): time.Location => {
  if (loc === undefined) return time.UTC
  if (typeof loc === "string") {
    const l = time.loadLocation(loc)
    if (l === undefined) throw new Error(`unknown time zone ${loc}`)
    return l
  }
  if ("lookup" in loc) return loc
  if (loc.name === "UTC" && loc.offsetSeconds === 0) return time.UTC
  return time.fixedZone(loc.name, loc.offsetSeconds)
}

const methodTable = new Map<string, GoFunc>()
const durationMethods = new Map<string, GoFunc>()
const monthMethods = new Map<string, GoFunc>()
const weekdayMethods = new Map<string, GoFunc>()
const locationMethods = new Map<string, GoFunc>()

const timeType: GoType = {
  kind: "struct",
  name: "time.Time",
  methods: methodTable,
  fields: [],
  zero: () => zero
}
const durationType: GoType = { kind: "int64", name: "time.Duration", methods: durationMethods }
const monthType: GoType = { kind: "int", name: "time.Month", methods: monthMethods }
const weekdayType: GoType = { kind: "int", name: "time.Weekday", methods: weekdayMethods }
const locationType: GoType = { kind: "ptr", name: "*time.Location", methods: locationMethods }

class GoLocation {
  readonly [goType] = locationType
  readonly location: time.Location
  constructor(location: time.Location) {
    this.location = location
  }
}

/**
 * An instant, as Go's `time.Time`: seconds and nanoseconds since the Unix epoch, and a location.
 *
 * @category models
 * @since 0.4.0
 */
export class GoTime {
  /** @internal */
  readonly [goType]: GoType = timeType
  /** Seconds since 1970-01-01T00:00:00Z. */
  readonly unixSeconds: number
  /** Nanoseconds within the second, 0 to 999999999. */
  readonly nanoseconds: number
  /** @internal */
  readonly location: time.Location

  constructor(options: {
    readonly epochNanos: bigint
    readonly location?: FixedLocation | string | undefined
  }) {
    const sec = options.epochNanos / NANOS
    let ns = options.epochNanos % NANOS
    let s = sec
    if (ns < 0n) {
      ns += NANOS
      s -= 1n
    }
    this.unixSeconds = Number(s)
    this.nanoseconds = Number(ns)
    this.location = toLocation(options.location)
  }

  /** @internal */
  static of(unixSeconds: number, nanoseconds: number, location: time.Location): GoTime {
    const t = new GoTime({ epochNanos: 0n })
    ;(t as { unixSeconds: number }).unixSeconds = unixSeconds
    ;(t as { nanoseconds: number }).nanoseconds = nanoseconds
    ;(t as { location: time.Location }).location = location
    return t
  }

  /** Nanoseconds since the Unix epoch. */
  get epochNanos(): bigint {
    return BigInt(this.unixSeconds) * NANOS + BigInt(this.nanoseconds)
  }

  /** The location's name (`UTC`, `Local`, an IANA name or a fixed zone's name). */
  get locationName(): string {
    return this.location.name
  }

  /** Go's `Time.Format(layout)`. */
  format(layout: string): string {
    return time.format(this.unixSeconds, this.nanoseconds, this.location, layout)
  }

  /** Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`. */
  toString(): string {
    return this.format("2006-01-02 15:04:05.999999999 -0700 MST")
  }

  /** Go's `Time.IsZero()`. */
  isZero(): boolean {
    return this.unixSeconds === zeroUnix && this.nanoseconds === 0
  }

  /** The same instant in another location (Go's `Time.In`). */
  in(location: FixedLocation | string): GoTime {
    return GoTime.of(this.unixSeconds, this.nanoseconds, toLocation(location))
  }

  /** The same instant in UTC. */
  utc(): GoTime {
    return GoTime.of(this.unixSeconds, this.nanoseconds, time.UTC)
  }

  /** The instant plus a duration in nanoseconds. */
  add(nanos: bigint): GoTime {
    const total = this.epochNanos + nanos
    let sec = total / NANOS
    let ns = total % NANOS
    if (ns < 0n) {
      ns += NANOS
      sec -= 1n
    }
    return GoTime.of(Number(sec), Number(ns), this.location)
  }

  /** The instant as a JavaScript `Date` (millisecond precision). */
  toDate(): Date {
    return new Date(this.unixSeconds * 1000 + Math.floor(this.nanoseconds / 1e6))
  }

  /** Go's `Time.MarshalJSON` text (RFC 3339 with nanoseconds), without quotes; undefined for years outside 0–9999. */
  toJSONText(): string | undefined {
    const y = time.civil(this.unixSeconds, this.location).year
    if (y < 0 || y > 9999) return undefined
    return this.format("2006-01-02T15:04:05.999999999Z07:00")
  }

  toJSON(): string {
    return this.toJSONText() ?? this.toString()
  }

  /** Go's `==` on times: the same instant in the same location. */
  equals(that: unknown): boolean {
    return (
      that instanceof GoTime &&
      that.unixSeconds === this.unixSeconds &&
      that.nanoseconds === this.nanoseconds &&
      that.location.name === this.location.name &&
      that.location.lookup(this.unixSeconds).offset === this.location.lookup(this.unixSeconds).offset
    )
  }
}

/**
 * Go's zero time, `0001-01-01 00:00:00 +0000 UTC`.
 *
 * @category constants
 * @since 0.4.0
 */
export const zero: GoTime = GoTime.of(zeroUnix, 0, time.UTC)

/**
 * A `GoTime` from a JavaScript `Date`. `nanoseconds`, when given, is the nanosecond of the second (0 to
 * 999999999) and replaces the `Date`'s milliseconds, for times known more precisely than a `Date` holds.
 *
 * @category constructors
 * @since 0.4.0
 */
export const fromDate = (date: Date, nanoseconds?: number, location?: FixedLocation | string): GoTime => {
  const ms = date.getTime()
  const sec = Math.floor(ms / 1000)
  const ns = nanoseconds ?? (ms - sec * 1000) * 1e6
  return GoTime.of(sec, ns, toLocation(location))
}

/**
 * A `GoTime` from Unix seconds (and nanoseconds), in UTC unless a location is given: Go's `time.Unix`.
 *
 * @category constructors
 * @since 0.4.0
 */
export const fromUnix = (seconds: number, nanoseconds = 0, location?: FixedLocation | string): GoTime =>
  new GoTime({
    epochNanos: BigInt(Math.trunc(seconds)) * NANOS + BigInt(Math.trunc(nanoseconds)),
    location: location === undefined ? undefined : location
  })

/**
 * The current time (millisecond precision), in `Local` (which nth takes to be UTC).
 *
 * @category constructors
 * @since 0.4.0
 */
export const now = (): GoTime => {
  const ms = Date.now()
  const sec = Math.floor(ms / 1000)
  return GoTime.of(sec, (ms - sec * 1000) * 1e6, time.Local)
}

/**
 * Go's `time.Parse(layout, value)`; throws an `Error` with Go's message when the value does not match.
 *
 * @category constructors
 * @since 0.4.0
 */
export const parse = (layout: string, value: string, location?: FixedLocation | string): GoTime => {
  const loc = location === undefined ? time.UTC : toLocation(location)
  const p = time.parse(layout, value, loc, location === undefined ? time.Local : loc)
  return GoTime.of(p.unixSec, p.nsec, p.loc)
}

/**
 * Formats a time with a Go layout (`2006-01-02T15:04:05Z07:00`, `Jan _2 15:04`, …).
 *
 * @category formatting
 * @since 0.4.0
 */
export const format = (t: GoTime, layout: string): string => t.format(layout)

/**
 * Go's `time.Duration.String` of a duration in nanoseconds: `1h2m3.5s`, `150ms`, `0s`.
 *
 * @category formatting
 * @since 0.4.0
 */
export const formatDuration = (nanos: bigint): string => time.durationString(nanos)

// ---------------------------------------------------------------------------------------------------------------
// Go-side values and methods (internal).

/** @internal */
export const duration = (nanos: bigint): GoNumber => new GoNumber(durationType, BigInt.asIntN(64, nanos))

/** @internal */
export const types = { time: timeType, duration: durationType, month: monthType, weekday: weekdayType }

/** @internal Go's `time.Unix(sec, 0)` in Local. */
export const unixLocal = (seconds: bigint): GoTime => GoTime.of(Number(seconds), 0, time.Local)

const m = (
  table: Map<string, GoFunc>,
  name: string,
  params: ReadonlyArray<GoType>,
  result: GoType,
  call: (...args: Array<never>) => unknown
): void => {
  table.set(name, { name, params, result, variadic: false, call: call as (...a: Array<unknown>) => unknown })
}

const civilOf = (t: GoTime): time.Civil => time.civil(t.unixSeconds, t.location)
const sinceZero = (t: GoTime): bigint =>
  (BigInt(t.unixSeconds) - BigInt(zeroUnix)) * NANOS + BigInt(t.nanoseconds)

const bind = <A extends Array<never>>(f: (t: GoTime, ...a: A) => unknown) =>
  function (this: unknown, ...a: A): unknown {
    return f(this as GoTime, ...a)
  }

// Methods are called with the receiver as `this` by the engine's `methodOf`; GoFunc calls get the receiver
// bound through `receiverCall` below.
const timeMethod = (
  name: string,
  params: ReadonlyArray<GoType>,
  result: GoType,
  f: (t: GoTime, ...args: Array<never>) => unknown
): void => {
  m(methodTable, name, params, result, bind(f) as never)
}

timeMethod("String", [], T.string, (t) => t.toString())
timeMethod("Format", [T.string], T.string, (t, layout: string) => t.format(layout))
timeMethod("Unix", [], T.int64, (t) => BigInt(t.unixSeconds))
timeMethod("UnixMilli", [], T.int64, (t) => t.epochNanos / 1000000n)
timeMethod("UnixMicro", [], T.int64, (t) => t.epochNanos / 1000n)
timeMethod("UnixNano", [], T.int64, (t) => BigInt.asIntN(64, t.epochNanos))
timeMethod("UTC", [], timeType, (t) => t.utc())
timeMethod("Local", [], timeType, (t) => GoTime.of(t.unixSeconds, t.nanoseconds, time.Local))
timeMethod("IsZero", [], T.bool, (t) => t.isZero())
timeMethod("Year", [], T.int, (t) => civilOf(t).year)
timeMethod("Month", [], monthType, (t) => new GoNumber(monthType, BigInt(civilOf(t).month)))
timeMethod("Day", [], T.int, (t) => civilOf(t).day)
timeMethod("Hour", [], T.int, (t) => civilOf(t).hour)
timeMethod("Minute", [], T.int, (t) => civilOf(t).minute)
timeMethod("Second", [], T.int, (t) => civilOf(t).second)
timeMethod("Nanosecond", [], T.int, (t) => t.nanoseconds)
timeMethod("YearDay", [], T.int, (t) => civilOf(t).yday)
timeMethod("Weekday", [], weekdayType, (t) => new GoNumber(weekdayType, BigInt(civilOf(t).weekday)))
timeMethod("Location", [], locationType, (t) => new GoLocation(t.location))
timeMethod("Add", [durationType], timeType, (t, d: GoNumber) => t.add(intOf(d)))
timeMethod("AddDate", [T.int, T.int, T.int], timeType, (t, y: number, mo: number, d: number) => {
  const c = civilOf(t)
  const days = time.daysFromCivil(c.year + y, c.month + mo, c.day + d)
  const local = days * 86400 + c.hour * 3600 + c.minute * 60 + c.second
  const off1 = t.location.lookup(local).offset
  let unix = local - off1
  const off2 = t.location.lookup(unix).offset
  if (off2 !== off1) unix = local - off2
  return GoTime.of(unix, t.nanoseconds, t.location)
})
timeMethod("Sub", [timeType], durationType, (t, u: GoTime) => {
  const d = t.epochNanos - u.epochNanos
  const max = (1n << 63n) - 1n
  return duration(d > max ? max : d < -max - 1n ? -max - 1n : d)
})
timeMethod("Before", [timeType], T.bool, (t, u: GoTime) => t.epochNanos < u.epochNanos)
timeMethod("After", [timeType], T.bool, (t, u: GoTime) => t.epochNanos > u.epochNanos)
timeMethod("Equal", [timeType], T.bool, (t, u: GoTime) => t.epochNanos === u.epochNanos)
timeMethod("Compare", [timeType], T.int, (t, u: GoTime) =>
  t.epochNanos < u.epochNanos ? -1 : t.epochNanos > u.epochNanos ? 1 : 0
)
timeMethod("Truncate", [durationType], timeType, (t, d: GoNumber) => {
  const dd = intOf(d)
  if (dd <= 0n) return t
  const r = sinceZero(t) % dd
  return t.add(-r)
})
timeMethod("Round", [durationType], timeType, (t, d: GoNumber) => {
  const dd = intOf(d)
  if (dd <= 0n) return t
  const r = sinceZero(t) % dd
  return r + r < dd ? t.add(-r) : t.add(dd - r)
})
timeMethod("MarshalJSON", [], sliceOfBytes(), (t) => {
  const s = t.toJSONText()
  if (s === undefined) throw new GoError("Time.MarshalJSON: year outside of range [0,9999]")
  return Uint8Array.from(new TextEncoder().encode(`"${s}"`))
})

function sliceOfBytes(): GoType {
  return { kind: "slice", name: "[]uint8", elem: T.uint8 }
}

const recv = (v: unknown): bigint => intOf(v)
const durationMethod = (
  name: string,
  params: ReadonlyArray<GoType>,
  result: GoType,
  f: (d: bigint, ...a: Array<never>) => unknown
): void => {
  m(durationMethods, name, params, result, function (this: unknown, ...a: Array<never>) {
    return f(recv(this), ...a)
  } as never)
}
durationMethod("String", [], T.string, (d) => time.durationString(d))
durationMethod("Nanoseconds", [], T.int64, (d) => d)
durationMethod("Microseconds", [], T.int64, (d) => d / 1000n)
durationMethod("Milliseconds", [], T.int64, (d) => d / 1000000n)
durationMethod("Seconds", [], T.float64, (d) => Number(d / NANOS) + Number(d % NANOS) / 1e9)
durationMethod("Minutes", [], T.float64, (d) => Number(d / 60000000000n) + Number(d % 60000000000n) / 6e10)
durationMethod(
  "Hours",
  [],
  T.float64,
  (d) => Number(d / 3600000000000n) + Number(d % 3600000000000n) / 3.6e12
)
durationMethod("Abs", [], durationType, (d) =>
  duration(d < 0n ? (d === -(1n << 63n) ? (1n << 63n) - 1n : -d) : d)
)
durationMethod("Truncate", [durationType], durationType, (d, mm: GoNumber) => {
  const x = intOf(mm)
  return duration(x <= 0n ? d : d - (d % x))
})
durationMethod("Round", [durationType], durationType, (d, mm: GoNumber) => {
  const x = intOf(mm)
  if (x <= 0n) return duration(d)
  let r = d % x
  if (d < 0n) {
    r = -r
    return duration(r + r < x ? d + r : d - x + r)
  }
  return duration(r + r < x ? d - r : d + x - r)
})

m(monthMethods, "String", [], T.string, function (this: unknown) {
  const n = Number(intOf(this))
  return n >= 1 && n <= 12 ? time.longMonthNames[n - 1] : `%!Month(${n})`
} as never)
m(weekdayMethods, "String", [], T.string, function (this: unknown) {
  const n = Number(intOf(this))
  return n >= 0 && n <= 6 ? time.longDayNames[n] : `%!Weekday(${n})`
} as never)
m(locationMethods, "String", [], T.string, function (this: unknown) {
  return (this as GoLocation).location.name
} as never)
