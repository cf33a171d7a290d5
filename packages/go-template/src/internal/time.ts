/**
 * Go's time package, as far as templates observe it: civil dates in a location, `Time.Format`'s layout
 * language, `time.Parse`, `time.Duration` printing and parsing.
 *
 * Time zones: UTC, `Local` (taken to be UTC: nth runs in UTC containers), fixed offsets, and IANA names resolved
 * with `Intl.DateTimeFormat` (offsets exact; abbreviations best effort, numeric like tzdata's when Intl has none).
 *
 * @internal
 */
import { loadZoneFile } from "./tzif.ts"

/** A zone in effect at some instant: its abbreviation and offset east of UTC in seconds. */
export interface Zone {
  readonly name: string
  readonly offset: number
}

/** A Go `*time.Location`. */
export interface Location {
  readonly name: string
  readonly lookup: (unixSec: number) => Zone
}

const utcZone: Zone = { name: "UTC", offset: 0 }

/** `time.UTC`. */
export const UTC: Location = { name: "UTC", lookup: () => utcZone }

/** `time.Local`, which nth takes to be UTC. */
export const Local: Location = { name: "Local", lookup: () => utcZone }

/** `time.FixedZone(name, offset)`. */
export const fixedZone = (name: string, offset: number): Location => {
  const zone = { name, offset }
  return { name, lookup: () => zone }
}

const tzdataStyle = (offset: number): string => {
  const sign = offset < 0 ? "-" : "+"
  const a = Math.abs(offset)
  const h = Math.floor(a / 3600)
  const m = Math.floor((a % 3600) / 60)
  return `${sign}${String(h).padStart(2, "0")}${m === 0 ? "" : String(m).padStart(2, "0")}`
}

const ianaCache = new Map<string, Location | undefined>()

const ianaLocation = (name: string): Location | undefined => {
  if (ianaCache.has(name)) return ianaCache.get(name)
  let loc: Location | undefined
  try {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: name,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      era: "short"
    })
    const us = new Intl.DateTimeFormat("en-US", { timeZone: name, timeZoneName: "short" })
    const gb = new Intl.DateTimeFormat("en-GB", { timeZone: name, timeZoneName: "short" })
    const abbrevOf = (f: Intl.DateTimeFormat, d: Date): string =>
      f.formatToParts(d).find((p) => p.type === "timeZoneName")?.value ?? ""
    loc = {
      name,
      lookup: (unixSec: number): Zone => {
        // Intl covers JS Date's range; clamp outside it.
        const clamped = Math.max(-8.64e12, Math.min(8.64e12, unixSec))
        const d = new Date(clamped * 1000)
        const p: Record<string, string> = {}
        for (const part of parts.formatToParts(d)) p[part.type] = part.value
        let year = Number(p.year)
        if (p.era === "BC" || p.era === "B") year = 1 - year
        const local =
          daysFromCivil(year, Number(p.month), Number(p.day)) * 86400 +
          Number(p.hour) * 3600 +
          Number(p.minute) * 60 +
          Number(p.second)
        const offset = local - Math.floor(clamped)
        let abbrev = abbrevOf(us, d)
        if (/^GMT[+-]/.test(abbrev) || abbrev === "") abbrev = abbrevOf(gb, d)
        if (/^(GMT|UTC)[+-]/.test(abbrev) || abbrev === "") abbrev = tzdataStyle(offset)
        if (abbrev === "GMT" && name.startsWith("Etc/UTC")) abbrev = "UTC"
        if (name === "UTC" || name === "Etc/UTC" || name === "Etc/Universal") abbrev = "UTC"
        return { name: abbrev, offset }
      }
    }
  } catch {
    loc = undefined
  }
  ianaCache.set(name, loc)
  return loc
}

/** Go's `time.LoadLocation`: undefined when the name is not a known zone. */
export const loadLocation = (name: string): Location | undefined => {
  if (name === "" || name === "UTC") return UTC
  if (name === "Local") return Local
  return loadZoneFile(name) ?? ianaLocation(name)
}

// ---------------------------------------------------------------------------------------------------------------
// Civil calendar (proleptic Gregorian), days since 1970-01-01.

/** Days since 1970-01-01 of a civil date (month 1..12; out-of-range months and days normalise). */
export const daysFromCivil = (y: number, m: number, d: number): number => {
  // Normalise the month into [1, 12] first.
  const mm = m - 1
  y += Math.floor(mm / 12)
  m = (((mm % 12) + 12) % 12) + 1
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** The civil date of a day count since 1970-01-01. */
export const civilFromDays = (z: number): { year: number; month: number; day: number } => {
  z += 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365
  )
  const y = yoe + era * 400
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  return { year: m <= 2 ? y + 1 : y, month: m, day: d }
}

export const isLeap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)

const daysBefore = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365]

export const daysIn = (month: number, year: number): number =>
  month === 2 && isLeap(year) ? 29 : daysBefore[month]! - daysBefore[month - 1]!

/** The broken-down fields of an instant in a location. */
export interface Civil {
  readonly year: number
  readonly month: number
  readonly day: number
  readonly hour: number
  readonly minute: number
  readonly second: number
  readonly weekday: number
  readonly yday: number
  readonly zone: Zone
}

/** The civil fields of unix seconds in a location. */
export const civil = (unixSec: number, loc: Location): Civil => {
  const zone = loc.lookup(unixSec)
  const s = unixSec + zone.offset
  const days = Math.floor(s / 86400)
  const sod = s - days * 86400
  const { year, month, day } = civilFromDays(days)
  const yday = days - daysFromCivil(year, 1, 1) + 1
  return {
    year,
    month,
    day,
    hour: Math.floor(sod / 3600),
    minute: Math.floor((sod % 3600) / 60),
    second: sod % 60,
    weekday: (((days + 4) % 7) + 7) % 7,
    yday,
    zone
  }
}

export const longDayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
export const shortDayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
export const shortMonthNames = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec"
]
export const longMonthNames = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December"
]

// ---------------------------------------------------------------------------------------------------------------
// Layouts

const Std = {
  None: 0,
  LongMonth: 1,
  Month: 2,
  NumMonth: 3,
  ZeroMonth: 4,
  LongWeekDay: 5,
  WeekDay: 6,
  Day: 7,
  UnderDay: 8,
  ZeroDay: 9,
  UnderYearDay: 10,
  ZeroYearDay: 11,
  Hour: 12,
  Hour12: 13,
  ZeroHour12: 14,
  Minute: 15,
  ZeroMinute: 16,
  Second: 17,
  ZeroSecond: 18,
  LongYear: 19,
  Year: 20,
  PM: 21,
  pm: 22,
  TZ: 23,
  ISO8601TZ: 24,
  ISO8601SecondsTZ: 25,
  ISO8601ShortTZ: 26,
  ISO8601ColonTZ: 27,
  ISO8601ColonSecondsTZ: 28,
  NumTZ: 29,
  NumSecondsTz: 30,
  NumShortTZ: 31,
  NumColonTZ: 32,
  NumColonSecondsTZ: 33,
  FracSecond0: 34,
  FracSecond9: 35
} as const
type Std = (typeof Std)[keyof typeof Std]

interface Chunk {
  readonly prefix: string
  readonly std: Std
  /** For fractional seconds: the number of digits, and the separator. */
  readonly digits: number
  readonly sep: string
  readonly suffix: string
}

const std0x = [Std.ZeroMonth, Std.ZeroDay, Std.ZeroHour12, Std.ZeroMinute, Std.ZeroSecond, Std.Year]

const startsWithLowerCase = (s: string): boolean => s.length > 0 && s[0]! >= "a" && s[0]! <= "z"

const isDigitAt = (s: string, i: number): boolean => i < s.length && s[i]! >= "0" && s[i]! <= "9"

/**
 * The numeric zone layouts after their `-` or `Z`, in the order Go tries them, with their stds as `-07…` and as
 * `Z07…` layouts (the same but for "Z" at UTC).
 */
const numZoneLayouts: ReadonlyArray<readonly [string, Std, Std]> = [
  ["070000", Std.NumSecondsTz, Std.ISO8601SecondsTZ],
  ["07:00:00", Std.NumColonSecondsTZ, Std.ISO8601ColonSecondsTZ],
  ["0700", Std.NumTZ, Std.ISO8601TZ],
  ["07:00", Std.NumColonTZ, Std.ISO8601ColonTZ],
  ["07", Std.NumShortTZ, Std.ISO8601ShortTZ]
]

const isoZoneStds: ReadonlySet<Std> = new Set(numZoneLayouts.map(([, , iso]) => iso))

const isIsoZone = (std: Std): boolean => isoZoneStds.has(std)

/** Go's nextStdChunk. */
const nextStdChunk = (layout: string): Chunk => {
  const mk = (i: number, std: Std, len: number, digits = 0, sep = "."): Chunk => ({
    prefix: layout.slice(0, i),
    std,
    digits,
    sep,
    suffix: layout.slice(i + len)
  })
  for (let i = 0; i < layout.length; i++) {
    const c = layout[i]!
    const at = (s: string): boolean => layout.startsWith(s, i)
    switch (c) {
      case "J":
        if (at("Jan")) {
          if (at("January")) return mk(i, Std.LongMonth, 7)
          if (!startsWithLowerCase(layout.slice(i + 3))) return mk(i, Std.Month, 3)
        }
        break
      case "M":
        if (layout.length >= i + 3) {
          if (at("Mon")) {
            if (at("Monday")) return mk(i, Std.LongWeekDay, 6)
            if (!startsWithLowerCase(layout.slice(i + 3))) return mk(i, Std.WeekDay, 3)
          }
          if (at("MST")) return mk(i, Std.TZ, 3)
        }
        break
      case "0":
        if (layout.length >= i + 2 && layout[i + 1]! >= "1" && layout[i + 1]! <= "6")
          return mk(i, std0x[layout.charCodeAt(i + 1) - 49]!, 2)
        if (at("002")) return mk(i, Std.ZeroYearDay, 3)
        break
      case "1":
        if (at("15")) return mk(i, Std.Hour, 2)
        return mk(i, Std.NumMonth, 1)
      case "2":
        if (at("2006")) return mk(i, Std.LongYear, 4)
        return mk(i, Std.Day, 1)
      case "_":
        if (layout[i + 1] === "2") {
          if (layout.startsWith("2006", i + 1)) return { ...mk(i + 1, Std.LongYear, 4) }
          return mk(i, Std.UnderDay, 2)
        }
        if (at("__2")) return mk(i, Std.UnderYearDay, 3)
        break
      case "3":
        return mk(i, Std.Hour12, 1)
      case "4":
        return mk(i, Std.Minute, 1)
      case "5":
        return mk(i, Std.Second, 1)
      case "P":
        if (layout[i + 1] === "M") return mk(i, Std.PM, 2)
        break
      case "p":
        if (layout[i + 1] === "m") return mk(i, Std.pm, 2)
        break
      case "-":
      case "Z":
        for (const [zone, num, iso] of numZoneLayouts)
          if (layout.startsWith(zone, i + 1)) return mk(i, c === "-" ? num : iso, 1 + zone.length)
        break
      case ".":
      case ",":
        if (i + 1 < layout.length && (layout[i + 1] === "0" || layout[i + 1] === "9")) {
          const ch = layout[i + 1]!
          let j = i + 1
          while (j < layout.length && layout[j] === ch) j++
          if (!isDigitAt(layout, j)) {
            const std = ch === "9" ? Std.FracSecond9 : Std.FracSecond0
            return mk(i, std, j - i, (j - (i + 1)) & 0xfff, c)
          }
        }
        break
    }
  }
  return { prefix: layout, std: Std.None, digits: 0, sep: ".", suffix: "" }
}

const appendInt = (x: number, width: number): string => {
  const neg = x < 0
  let s = String(Math.abs(x))
  if (s.length < width) s = s.padStart(width, "0")
  return neg ? `-${s}` : s
}

const appendNano = (nanosec: number, std: Std, n: number, sep: string): string => {
  const trim = std === Std.FracSecond9
  if (trim && (n === 0 || nanosec === 0)) return ""
  let b = sep + String(nanosec).padStart(9, "0")
  if (n < 9) b = b.slice(0, b.length - 9 + n)
  if (trim) {
    b = b.replace(/0+$/, "")
    if (b === sep) b = ""
  }
  return b
}

/** Go's formatting of the numeric zones (`-07`, `-0700`, `-07:00`, `-070000`, `-07:00:00` and their `Z07…` forms). */
const appendNumZone = (std: Std, offset: number): string => {
  if (offset === 0 && isIsoZone(std)) return "Z"
  let b = ""
  let zone = Math.trunc(offset / 60)
  let absoffset = offset
  if (zone < 0) {
    b += "-"
    zone = -zone
    absoffset = -absoffset
  } else b += "+"
  b += appendInt(Math.trunc(zone / 60), 2)
  if (
    std === Std.ISO8601ColonTZ ||
    std === Std.NumColonTZ ||
    std === Std.ISO8601ColonSecondsTZ ||
    std === Std.NumColonSecondsTZ
  )
    b += ":"
  if (std !== Std.NumShortTZ && std !== Std.ISO8601ShortTZ) b += appendInt(zone % 60, 2)
  if (
    std === Std.ISO8601SecondsTZ ||
    std === Std.NumSecondsTz ||
    std === Std.NumColonSecondsTZ ||
    std === Std.ISO8601ColonSecondsTZ
  ) {
    if (std === Std.NumColonSecondsTZ || std === Std.ISO8601ColonSecondsTZ) b += ":"
    b += appendInt(absoffset % 60, 2)
  }
  return b
}

/** Go's `Time.Format` of an instant (unix seconds and nanoseconds) in a location. */
export const format = (unixSec: number, nsec: number, loc: Location, layout: string): string => {
  const c = civil(unixSec, loc)
  const { name, offset } = c.zone
  let b = ""
  while (layout !== "") {
    const { prefix, std, suffix, digits, sep } = nextStdChunk(layout)
    b += prefix
    if (std === Std.None) break
    layout = suffix
    switch (std) {
      case Std.Year:
        b += appendInt(Math.abs(c.year) % 100, 2)
        break
      case Std.LongYear:
        b += appendInt(c.year, 4)
        break
      case Std.Month:
        b += shortMonthNames[c.month - 1]
        break
      case Std.LongMonth:
        b += longMonthNames[c.month - 1]
        break
      case Std.NumMonth:
        b += appendInt(c.month, 0)
        break
      case Std.ZeroMonth:
        b += appendInt(c.month, 2)
        break
      case Std.WeekDay:
        b += shortDayNames[c.weekday]
        break
      case Std.LongWeekDay:
        b += longDayNames[c.weekday]
        break
      case Std.Day:
        b += appendInt(c.day, 0)
        break
      case Std.UnderDay:
        if (c.day < 10) b += " "
        b += appendInt(c.day, 0)
        break
      case Std.ZeroDay:
        b += appendInt(c.day, 2)
        break
      case Std.UnderYearDay:
        if (c.yday < 100) {
          b += " "
          if (c.yday < 10) b += " "
        }
        b += appendInt(c.yday, 0)
        break
      case Std.ZeroYearDay:
        b += appendInt(c.yday, 3)
        break
      case Std.Hour:
        b += appendInt(c.hour, 2)
        break
      case Std.Hour12:
      case Std.ZeroHour12: {
        let hr = c.hour % 12
        if (hr === 0) hr = 12
        b += appendInt(hr, std === Std.Hour12 ? 0 : 2)
        break
      }
      case Std.Minute:
        b += appendInt(c.minute, 0)
        break
      case Std.ZeroMinute:
        b += appendInt(c.minute, 2)
        break
      case Std.Second:
        b += appendInt(c.second, 0)
        break
      case Std.ZeroSecond:
        b += appendInt(c.second, 2)
        break
      case Std.PM:
        b += c.hour >= 12 ? "PM" : "AM"
        break
      case Std.pm:
        b += c.hour >= 12 ? "pm" : "am"
        break
      case Std.TZ:
        // With no abbreviation, the offset as -0700 would write it.
        b += name !== "" ? name : appendNumZone(Std.NumTZ, offset)
        break
      case Std.FracSecond0:
      case Std.FracSecond9:
        b += appendNano(nsec, std, digits, sep)
        break
      default:
        // The numeric zones: every std not named above.
        b += appendNumZone(std, offset)
    }
  }
  return b
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

// time's own quoting, for its error messages.
const timeQuote = (s: string): string => {
  let out = '"'
  for (const b of new TextEncoder().encode(s)) {
    if (b >= 0x80 || b < 0x20) out += `\\x${b.toString(16).padStart(2, "0")}`
    else {
      const c = String.fromCharCode(b)
      if (c === '"' || c === "\\") out += "\\"
      out += c
    }
  }
  return `${out}"`
}

/** A time parsing error, with Go's message. */
export class TimeParseError extends Error {}

const parseError = (layout: string, value: string, layoutElem: string, valueElem: string, message: string) =>
  new TimeParseError(
    message === ""
      ? `parsing time ${timeQuote(value)} as ${timeQuote(layout)}: cannot parse ${timeQuote(valueElem)} as ${timeQuote(layoutElem)}`
      : `parsing time ${timeQuote(value)}${message}`
  )

class Bad extends Error {}

const getnum = (s: string, fixed: boolean): [number, string] => {
  if (!isDigitAt(s, 0)) throw new Bad()
  if (!isDigitAt(s, 1)) {
    if (fixed) throw new Bad()
    return [s.charCodeAt(0) - 48, s.slice(1)]
  }
  return [(s.charCodeAt(0) - 48) * 10 + (s.charCodeAt(1) - 48), s.slice(2)]
}

const getnum3 = (s: string, fixed: boolean): [number, string] => {
  let n = 0
  let i = 0
  for (; i < 3 && isDigitAt(s, i); i++) n = n * 10 + (s.charCodeAt(i) - 48)
  if (i === 0 || (fixed && i !== 3)) throw new Bad()
  return [n, s.slice(i)]
}

const lookupName = (tab: ReadonlyArray<string>, val: string): [number, string] => {
  for (let i = 0; i < tab.length; i++) {
    const v = tab[i]!
    if (val.length >= v.length && val.slice(0, v.length).toLowerCase() === v.toLowerCase())
      return [i, val.slice(v.length)]
  }
  throw new Bad()
}

const skip = (value: string, prefix: string): string => {
  while (prefix.length > 0) {
    if (prefix[0] === " ") {
      if (value.length > 0 && value[0] !== " ") throw new Bad()
      prefix = prefix.replace(/^ +/, "")
      value = value.replace(/^ +/, "")
      continue
    }
    if (value.length === 0 || value[0] !== prefix[0]) throw new Bad()
    prefix = prefix.slice(1)
    value = value.slice(1)
  }
  return value
}

const atoi = (s: string): number => {
  let neg = false
  if (s.length > 0 && (s[0] === "-" || s[0] === "+")) {
    neg = s[0] === "-"
    s = s.slice(1)
  }
  if (!/^[0-9]+$/.test(s)) throw new Bad()
  const x = Number(s)
  return neg ? -x : x
}

const parseNanoseconds = (value: string, nbytes: number): [number, string] => {
  if (value[0] !== "." && value[0] !== ",") throw new Bad()
  if (nbytes > 10) nbytes = 10
  let ns = atoi(value.slice(1, nbytes))
  if (ns < 0) return [0, "fractional second"]
  for (let i = 0; i < 10 - nbytes; i++) ns *= 10
  return [ns, ""]
}

const parseSignedOffset = (value: string): number => {
  const sign = value[0]
  if (sign !== "-" && sign !== "+") return 0
  const m = /^[0-9]+/.exec(value.slice(1))
  if (m === null) return 0
  if (Number(m[0]) > 23) return 0
  return 1 + m[0].length
}

const parseTimeZone = (value: string): number => {
  if (value.length < 3) return 0
  if (value.startsWith("ChST") || value.startsWith("MeST")) return 4
  if (value.startsWith("GMT")) {
    const rest = value.slice(3)
    if (rest.length === 0) return 3
    return 3 + parseSignedOffset(rest)
  }
  if (value[0] === "+" || value[0] === "-") return parseSignedOffset(value)
  let nUpper = 0
  for (; nUpper < 6; nUpper++) {
    if (nUpper >= value.length) break
    const c = value[nUpper]!
    if (c < "A" || c > "Z") break
  }
  switch (nUpper) {
    case 0:
    case 1:
    case 2:
    case 6:
      return 0
    case 5:
      return value[4] === "T" ? 5 : 0
    case 4:
      return value[3] === "T" || value.startsWith("WITA") ? 4 : 0
    case 3:
      return 3
  }
  return 0
}

/** The result of parsing: unix seconds, nanoseconds and location. */
export interface Parsed {
  readonly unixSec: number
  readonly nsec: number
  readonly loc: Location
}

const dateToUnix = (
  year: number,
  month: number,
  day: number,
  hour: number,
  min: number,
  sec: number
): number => daysFromCivil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec

/** Go's `time.ParseInLocation` (with `local` as the location for zone names and offsets that match it). */
export const parse = (layout: string, value: string, defaultLocation: Location, local: Location): Parsed => {
  const alayout = layout
  const avalue = value
  let rangeErrString = ""
  let amSet = false
  let pmSet = false
  let year = 0
  let month = -1
  let day = -1
  let yday = -1
  let hour = 0
  let min = 0
  let sec = 0
  let nsec = 0
  let z: Location | undefined
  let zoneOffset = -1
  let zoneName = ""
  for (;;) {
    const chunk = nextStdChunk(layout)
    const { prefix, suffix } = chunk
    let std = chunk.std
    const stdstr = layout.slice(prefix.length, layout.length - suffix.length)
    try {
      value = skip(value, prefix)
    } catch {
      throw parseError(alayout, avalue, prefix, value, "")
    }
    if (std === Std.None) {
      if (value.length !== 0)
        throw parseError(alayout, avalue, "", value, `: extra text: ${timeQuote(value)}`)
      break
    }
    layout = suffix
    const hold = value
    try {
      switch (std) {
        case Std.Year: {
          if (value.length < 2) throw new Bad()
          const p = value.slice(0, 2)
          value = value.slice(2)
          year = atoi(p)
          year += year >= 69 ? 1900 : 2000
          break
        }
        case Std.LongYear: {
          if (value.length < 4 || !isDigitAt(value, 0)) throw new Bad()
          const p = value.slice(0, 4)
          value = value.slice(4)
          year = atoi(p)
          break
        }
        case Std.Month:
          ;[month, value] = lookupName(shortMonthNames, value)
          month++
          break
        case Std.LongMonth:
          ;[month, value] = lookupName(longMonthNames, value)
          month++
          break
        case Std.NumMonth:
        case Std.ZeroMonth:
          ;[month, value] = getnum(value, std === Std.ZeroMonth)
          if (month <= 0 || month > 12) rangeErrString = "month"
          break
        case Std.WeekDay:
          ;[, value] = lookupName(shortDayNames, value)
          break
        case Std.LongWeekDay:
          ;[, value] = lookupName(longDayNames, value)
          break
        case Std.Day:
        case Std.UnderDay:
        case Std.ZeroDay:
          if (std === Std.UnderDay && value[0] === " ") value = value.slice(1)
          ;[day, value] = getnum(value, std === Std.ZeroDay)
          break
        case Std.UnderYearDay:
        case Std.ZeroYearDay:
          for (let i = 0; i < 2; i++) if (std === Std.UnderYearDay && value[0] === " ") value = value.slice(1)
          ;[yday, value] = getnum3(value, std === Std.ZeroYearDay)
          break
        case Std.Hour:
          ;[hour, value] = getnum(value, false)
          if (hour < 0 || hour >= 24) rangeErrString = "hour"
          break
        case Std.Hour12:
        case Std.ZeroHour12:
          ;[hour, value] = getnum(value, std === Std.ZeroHour12)
          if (hour < 0 || hour > 12) rangeErrString = "hour"
          break
        case Std.Minute:
        case Std.ZeroMinute:
          ;[min, value] = getnum(value, std === Std.ZeroMinute)
          if (min < 0 || min >= 60) rangeErrString = "minute"
          break
        case Std.Second:
        case Std.ZeroSecond: {
          ;[sec, value] = getnum(value, std === Std.ZeroSecond)
          if (sec < 0 || sec >= 60) {
            rangeErrString = "second"
            break
          }
          if (value.length >= 2 && (value[0] === "." || value[0] === ",") && isDigitAt(value, 1)) {
            std = nextStdChunk(layout).std
            if (std === Std.FracSecond0 || std === Std.FracSecond9) break
            let n = 2
            while (n < value.length && isDigitAt(value, n)) n++
            ;[nsec, rangeErrString] = parseNanoseconds(value, n)
            value = value.slice(n)
          }
          break
        }
        case Std.PM:
        case Std.pm: {
          // In the layout's case only: PM wants "PM" or "AM", pm "pm" or "am".
          const [pm, am] = std === Std.PM ? ["PM", "AM"] : ["pm", "am"]
          if (value.length < 2) throw new Bad()
          const p = value.slice(0, 2)
          value = value.slice(2)
          if (p === pm) pmSet = true
          else if (p === am) amSet = true
          else throw new Bad()
          break
        }
        case Std.TZ: {
          if (value.startsWith("UTC")) {
            z = UTC
            value = value.slice(3)
            break
          }
          const n = parseTimeZone(value)
          if (n === 0) throw new Bad()
          zoneName = value.slice(0, n)
          value = value.slice(n)
          break
        }
        case Std.FracSecond0: {
          const ndigit = 1 + chunk.digits
          if (value.length < ndigit) throw new Bad()
          ;[nsec, rangeErrString] = parseNanoseconds(value, ndigit)
          value = value.slice(ndigit)
          break
        }
        case Std.FracSecond9: {
          if (value.length < 2 || (value[0] !== "." && value[0] !== ",") || !isDigitAt(value, 1)) break
          let i = 0
          while (i + 1 < value.length && isDigitAt(value, i + 1)) i++
          ;[nsec, rangeErrString] = parseNanoseconds(value, 1 + i)
          value = value.slice(1 + i)
          break
        }
        default: {
          // The numeric zones: every std not named above.
          if (isIsoZone(std) && value[0] === "Z") {
            value = value.slice(1)
            z = UTC
            break
          }
          let sign: string
          let hh: string
          let mm: string
          let ss: string
          if (std === Std.ISO8601ColonTZ || std === Std.NumColonTZ) {
            if (value.length < 6 || value[3] !== ":") throw new Bad()
            ;[sign, hh, mm, ss, value] = [
              value.slice(0, 1),
              value.slice(1, 3),
              value.slice(4, 6),
              "00",
              value.slice(6)
            ]
          } else if (std === Std.NumShortTZ || std === Std.ISO8601ShortTZ) {
            if (value.length < 3) throw new Bad()
            ;[sign, hh, mm, ss, value] = [value.slice(0, 1), value.slice(1, 3), "00", "00", value.slice(3)]
          } else if (std === Std.ISO8601ColonSecondsTZ || std === Std.NumColonSecondsTZ) {
            if (value.length < 9 || value[3] !== ":" || value[6] !== ":") throw new Bad()
            ;[sign, hh, mm, ss, value] = [
              value.slice(0, 1),
              value.slice(1, 3),
              value.slice(4, 6),
              value.slice(7, 9),
              value.slice(9)
            ]
          } else if (std === Std.ISO8601SecondsTZ || std === Std.NumSecondsTz) {
            if (value.length < 7) throw new Bad()
            ;[sign, hh, mm, ss, value] = [
              value.slice(0, 1),
              value.slice(1, 3),
              value.slice(3, 5),
              value.slice(5, 7),
              value.slice(7)
            ]
          } else {
            if (value.length < 5) throw new Bad()
            ;[sign, hh, mm, ss, value] = [
              value.slice(0, 1),
              value.slice(1, 3),
              value.slice(3, 5),
              "00",
              value.slice(5)
            ]
          }
          const [hr] = getnum(hh, true)
          const [mi] = getnum(mm, true)
          const [se] = getnum(ss, true)
          if (hr > 24) rangeErrString = "time zone offset hour"
          if (mi > 60) rangeErrString = "time zone offset minute"
          if (se > 60) rangeErrString = "time zone offset second"
          zoneOffset = (hr * 60 + mi) * 60 + se
          if (sign === "-") zoneOffset = -zoneOffset
          else if (sign !== "+") throw new Bad()
          break
        }
      }
    } catch (e) {
      if (!(e instanceof Bad)) throw e
      if (rangeErrString !== "")
        throw parseError(alayout, avalue, stdstr, value, `: ${rangeErrString} out of range`)
      throw parseError(alayout, avalue, stdstr, hold, "")
    }
    if (rangeErrString !== "")
      throw parseError(alayout, avalue, stdstr, value, `: ${rangeErrString} out of range`)
  }
  if (pmSet && hour < 12) hour += 12
  else if (amSet && hour === 12) hour = 0
  if (yday >= 0) {
    let d = 0
    let m = 0
    if (isLeap(year)) {
      if (yday === 31 + 29) {
        m = 2
        d = 29
      } else if (yday > 31 + 29) yday--
    }
    if (yday < 1 || yday > 365) throw parseError(alayout, avalue, "", value, ": day-of-year out of range")
    if (m === 0) {
      m = Math.floor((yday - 1) / 31) + 1
      if (daysBefore[m]! < yday) m++
      d = yday - daysBefore[m - 1]!
    }
    if (month >= 0 && month !== m)
      throw parseError(alayout, avalue, "", value, ": day-of-year does not match month")
    month = m
    if (day >= 0 && day !== d)
      throw parseError(alayout, avalue, "", value, ": day-of-year does not match day")
    day = d
  } else {
    if (month < 0) month = 1
    if (day < 0) day = 1
  }
  if (day < 1 || day > daysIn(month, year)) throw parseError(alayout, avalue, "", value, ": day out of range")
  if (z !== undefined) {
    const local0 = dateToUnix(year, month, day, hour, min, sec)
    return { unixSec: local0 - z.lookup(local0).offset, nsec, loc: z }
  }
  if (zoneOffset !== -1) {
    const t = dateToUnix(year, month, day, hour, min, sec) - zoneOffset
    const zl = local.lookup(t)
    if (zl.offset === zoneOffset && (zoneName === "" || zl.name === zoneName))
      return { unixSec: t, nsec, loc: local }
    return { unixSec: t, nsec, loc: fixedZone(zoneName, zoneOffset) }
  }
  if (zoneName !== "") {
    const t = dateToUnix(year, month, day, hour, min, sec)
    const zl = local.lookup(t)
    if (zl.name === zoneName) return { unixSec: t - zl.offset, nsec, loc: local }
    let offset = 0
    if (zoneName.length > 3 && zoneName.startsWith("GMT")) offset = atoi(zoneName.slice(3)) * 3600
    return { unixSec: t - offset, nsec, loc: fixedZone(zoneName, offset) }
  }
  const local0 = dateToUnix(year, month, day, hour, min, sec)
  // Go's Date: the offset in effect at the local time, looked up around it.
  const off1 = defaultLocation.lookup(local0).offset
  let unix = local0 - off1
  const off2 = defaultLocation.lookup(unix).offset
  if (off2 !== off1) unix = local0 - off2
  return { unixSec: unix, nsec, loc: defaultLocation }
}

// ---------------------------------------------------------------------------------------------------------------
// Durations

const fmtFrac = (v: bigint, prec: number): [string, bigint] => {
  let s = ""
  let print = false
  for (let i = 0; i < prec; i++) {
    const digit = v % 10n
    print = print || digit !== 0n
    if (print) s = String(digit) + s
    v /= 10n
  }
  if (print) s = `.${s}`
  return [s, v]
}

/** Go's `time.Duration.String`. */
export const durationString = (d: bigint): string => {
  let u = d < 0n ? -d : d
  const neg = d < 0n
  let out: string
  if (u < 1000000000n) {
    let prec: number
    let unit: string
    if (u === 0n) return "0s"
    if (u < 1000n) {
      prec = 0
      unit = "ns"
    } else if (u < 1000000n) {
      prec = 3
      unit = "µs"
    } else {
      prec = 6
      unit = "ms"
    }
    const [frac, rest] = fmtFrac(u, prec)
    out = `${rest}${frac}${unit}`
  } else {
    const [frac, rest] = fmtFrac(u, 9)
    u = rest
    out = `${u % 60n}${frac}s`
    u /= 60n
    if (u > 0n) {
      out = `${u % 60n}m${out}`
      u /= 60n
      if (u > 0n) out = `${u}h${out}`
    }
  }
  return neg ? `-${out}` : out
}

const unitMap: Record<string, bigint> = {
  ns: 1n,
  us: 1000n,
  µs: 1000n,
  μs: 1000n,
  ms: 1000000n,
  s: 1000000000n,
  m: 60000000000n,
  h: 3600000000000n
}

/** Go's `time.ParseDuration`; throws with Go's message. */
export const parseDuration = (s: string): bigint => {
  const orig = s
  let d = 0n
  let neg = false
  const invalid = () => new Error(`time: invalid duration ${timeQuote(orig)}`)
  if (s !== "") {
    const c = s[0]
    if (c === "-" || c === "+") {
      neg = c === "-"
      s = s.slice(1)
    }
  }
  if (s === "0") return 0n
  if (s === "") throw invalid()
  const max = 1n << 63n
  while (s !== "") {
    if (!(s[0] === "." || (s[0]! >= "0" && s[0]! <= "9"))) throw invalid()
    const pl = s.length
    const mInt = /^[0-9]*/.exec(s)![0]
    let v = mInt === "" ? 0n : BigInt(mInt)
    if (v > max) throw invalid()
    s = s.slice(mInt.length)
    const pre = pl !== s.length
    let post = false
    let f = 0n
    let scale = 1
    if (s !== "" && s[0] === ".") {
      s = s.slice(1)
      const pl2 = s.length
      const mFrac = /^[0-9]*/.exec(s)![0]
      s = s.slice(mFrac.length)
      post = pl2 !== s.length
      // leadingFraction: stop accumulating once it would overflow
      for (const ch of mFrac) {
        if (f > (max - 1n) / 10n) break
        const y = f * 10n + BigInt(ch.charCodeAt(0) - 48)
        if (y > max) break
        f = y
        scale *= 10
      }
    }
    if (!pre && !post) throw invalid()
    const u = /^[^0-9.]*/.exec(s)![0]
    if (u === "") throw new Error(`time: missing unit in duration ${timeQuote(orig)}`)
    s = s.slice(u.length)
    const unit = unitMap[u]
    if (unit === undefined)
      throw new Error(`time: unknown unit ${timeQuote(u)} in duration ${timeQuote(orig)}`)
    if (v > max / unit) throw invalid()
    v *= unit
    if (f > 0n) {
      v += BigInt(Math.floor(Number(f) * (Number(unit) / scale)))
      if (v > max) throw invalid()
    }
    d += v
    if (d > max) throw invalid()
  }
  if (neg) return -d
  if (d > max - 1n) throw invalid()
  return d
}
