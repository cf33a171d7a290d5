/**
 * Time zones from the system's zoneinfo files (TZif), read as Go's `time.LoadLocation` reads them: transitions,
 * abbreviations, and the POSIX TZ rule that extends them.
 *
 * @internal
 */
import { readFileSync } from "node:fs"
import type { Location, Zone } from "./time.ts"

interface ZoneInfo {
  readonly name: string
  readonly offset: number
  readonly isDST: boolean
}

interface Transition {
  readonly when: number
  readonly index: number
}

const secondsPerDay = 86400

const zoneDirs = ["/usr/share/zoneinfo/", "/usr/share/lib/zoneinfo/", "/usr/lib/locale/TZ/", "/etc/zoneinfo/"]

const readBE = (b: Uint8Array, at: number, size: 4 | 8): number => {
  const view = new DataView(b.buffer, b.byteOffset + at, size)
  return size === 4 ? view.getInt32(0) : Number(view.getBigInt64(0))
}

// A TZif header's six counts, in their order.
type HeaderCounts = [
  isutcnt: number,
  isstdcnt: number,
  leapcnt: number,
  timecnt: number,
  typecnt: number,
  charcnt: number
]

const parseTZif = (name: string, data: Uint8Array): Location | undefined => {
  if (data.length < 44 || String.fromCharCode(...data.subarray(0, 4)) !== "TZif") return undefined
  const version = data[4]! === 0 ? 1 : data[4]! - 0x30
  const counts = (at: number): HeaderCounts =>
    [0, 1, 2, 3, 4, 5].map((i) => readBE(data, at + 20 + i * 4, 4)) as HeaderCounts
  let [isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt] = counts(0)
  let at = 44
  let timeSize: 4 | 8 = 4
  if (version >= 2) {
    // Skip the version 1 block; read the 64-bit one.
    at += timecnt * 4 + timecnt + typecnt * 6 + charcnt + leapcnt * 8 + isstdcnt + isutcnt
    ;[isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt] = counts(at)
    at += 44
    timeSize = 8
  }
  const times: Array<number> = []
  for (let i = 0; i < timecnt; i++) times.push(readBE(data, at + i * timeSize, timeSize))
  at += timecnt * timeSize
  const indices = Array.from(data.subarray(at, at + timecnt))
  at += timecnt
  const types: Array<{ offset: number; isDST: boolean; abbr: number }> = []
  for (let i = 0; i < typecnt; i++) {
    types.push({ offset: readBE(data, at, 4), isDST: data[at + 4] !== 0, abbr: data[at + 5]! })
    at += 6
  }
  const chars = data.subarray(at, at + charcnt)
  at += charcnt + leapcnt * (timeSize + 4) + isstdcnt + isutcnt
  let extend = ""
  if (version >= 2 && data[at] === 0x0a) {
    const end = data.indexOf(0x0a, at + 1)
    if (end > at) extend = String.fromCharCode(...data.subarray(at + 1, end))
  }
  const abbrev = (i: number): string => {
    const end = chars.indexOf(0, i)
    return String.fromCharCode(...chars.subarray(i, end < 0 ? chars.length : end))
  }
  const zones: Array<ZoneInfo> = types.map((t) => ({
    name: abbrev(t.abbr),
    offset: t.offset,
    isDST: t.isDST
  }))
  if (zones.length === 0) zones.push({ name: "UTC", offset: 0, isDST: false })
  const tx: Array<Transition> = times.map((when, i) => ({ when, index: indices[i]! }))

  const firstZone = (): number => {
    if (!tx.some((t) => t.index === 0)) return 0
    if (tx.length > 0 && zones[tx[0]!.index]!.isDST) {
      for (let zi = tx[0]!.index - 1; zi >= 0; zi--) if (!zones[zi]!.isDST) return zi
    }
    const z = zones.findIndex((x) => !x.isDST)
    return Math.max(z, 0)
  }

  const lookup = (sec: number): Zone => {
    if (tx.length === 0 || sec < tx[0]!.when) {
      const z = zones[firstZone()]!
      return { name: z.name, offset: z.offset }
    }
    let lo = 0
    let hi = tx.length
    while (hi - lo > 1) {
      const m = (lo + hi) >>> 1
      if (sec < tx[m]!.when) hi = m
      else lo = m
    }
    const z = zones[tx[lo]!.index]!
    if (lo === tx.length - 1 && extend !== "") {
      const e = tzset(extend, sec)
      if (e !== undefined) return e
    }
    return { name: z.name, offset: z.offset }
  }
  return { name, lookup }
}

// POSIX TZ strings (the TZif footer), as Go's tzset reads them.

const tzsetName = (s: string): [string, string] | undefined => {
  if (s.length === 0) return undefined
  if (s[0] !== "<") {
    let i = 0
    for (; i < s.length; i++) {
      const c = s[i]!
      if ((c >= "0" && c <= "9") || c === "," || c === "-" || c === "+") break
    }
    if (i < 3) return undefined
    return [s.slice(0, i), s.slice(i)]
  }
  const end = s.indexOf(">")
  if (end < 0) return undefined
  return [s.slice(1, end), s.slice(end + 1)]
}

const tzsetNum = (s: string, min: number, max: number): [number, string] | undefined => {
  if (s.length === 0) return undefined
  let num = 0
  let i = 0
  for (; i < s.length; i++) {
    const c = s[i]!
    if (c < "0" || c > "9") break
    num = num * 10 + (c.charCodeAt(0) - 48)
    if (num > max) return undefined
  }
  if (i === 0 || num < min) return undefined
  return [num, s.slice(i)]
}

const tzsetOffset = (s: string): [number, string] | undefined => {
  if (s.length === 0) return undefined
  let neg = false
  if (s[0] === "+") s = s.slice(1)
  else if (s[0] === "-") {
    neg = true
    s = s.slice(1)
  }
  const h = tzsetNum(s, 0, 24 * 7)
  if (h === undefined) return undefined
  let off = h[0] * 3600
  s = h[1]
  if (s.length === 0 || s[0] !== ":") return [neg ? -off : off, s]
  const m = tzsetNum(s.slice(1), 0, 59)
  if (m === undefined) return undefined
  off += m[0] * 60
  s = m[1]
  if (s.length === 0 || s[0] !== ":") return [neg ? -off : off, s]
  const sec = tzsetNum(s.slice(1), 0, 59)
  if (sec === undefined) return undefined
  off += sec[0]
  return [neg ? -off : off, sec[1]]
}

interface Rule {
  readonly kind: "julian" | "doy" | "mwd"
  readonly day: number
  readonly week: number
  readonly mon: number
  readonly time: number
}

const tzsetRule = (s: string): [Rule, string] | undefined => {
  if (s.length < 2) return undefined
  let kind: Rule["kind"]
  let day = 0
  let week = 0
  let mon = 0
  if (s[0] === "J") {
    const j = tzsetNum(s.slice(1), 1, 365)
    if (j === undefined) return undefined
    kind = "julian"
    day = j[0]
    s = j[1]
  } else if (s[0] === "M") {
    const m = tzsetNum(s.slice(1), 1, 12)
    if (m === undefined || m[1][0] !== ".") return undefined
    const w = tzsetNum(m[1].slice(1), 1, 5)
    if (w === undefined || w[1][0] !== ".") return undefined
    const d = tzsetNum(w[1].slice(1), 0, 6)
    if (d === undefined) return undefined
    kind = "mwd"
    mon = m[0]
    week = w[0]
    day = d[0]
    s = d[1]
  } else {
    const d = tzsetNum(s, 0, 365)
    if (d === undefined) return undefined
    kind = "doy"
    day = d[0]
    s = d[1]
  }
  if (s.length === 0 || s[0] !== "/") return [{ kind, day, week, mon, time: 7200 }, s]
  const off = tzsetOffset(s.slice(1))
  if (off === undefined) return undefined
  return [{ kind, day, week, mon, time: off[0] }, off[1]]
}

const isLeap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
const daysBefore = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365]
const daysIn = (m: number, y: number): number =>
  m === 2 && isLeap(y) ? 29 : daysBefore[m]! - daysBefore[m - 1]!

const tzruleTime = (year: number, r: Rule, off: number): number => {
  let s: number
  switch (r.kind) {
    case "julian":
      s = (r.day - 1) * secondsPerDay
      if (isLeap(year) && r.day >= 60) s += secondsPerDay
      break
    case "doy":
      s = r.day * secondsPerDay
      break
    default: {
      const m1 = ((r.mon + 9) % 12) + 1
      let yy0 = year
      if (r.mon <= 2) yy0--
      const yy1 = Math.trunc(yy0 / 100)
      const yy2 = yy0 % 100
      let dow =
        (Math.trunc((26 * m1 - 2) / 10) + 1 + yy2 + Math.trunc(yy2 / 4) + Math.trunc(yy1 / 4) - 2 * yy1) % 7
      if (dow < 0) dow += 7
      let d = r.day - dow
      if (d < 0) d += 7
      for (let i = 1; i < r.week; i++) {
        if (d + 7 >= daysIn(r.mon, year)) break
        d += 7
      }
      d += daysBefore[r.mon - 1]!
      if (isLeap(year) && r.mon > 2) d++
      s = d * secondsPerDay
    }
  }
  return s + r.time - off
}

const yearStart = (year: number): number => {
  // days from 1970-01-01 to year-01-01
  const y = year - 1
  const days = y * 365 + Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400) - 719162
  return days * secondsPerDay
}

const yearOf = (sec: number): number => {
  let y = 1970 + Math.floor(sec / (365.2425 * secondsPerDay))
  while (yearStart(y + 1) <= sec) y++
  while (yearStart(y) > sec) y--
  return y
}

const tzset = (str: string, sec: number): Zone | undefined => {
  let s = str
  const std = tzsetName(s)
  if (std === undefined) return undefined
  let stdName = std[0]
  s = std[1]
  const so = tzsetOffset(s)
  if (so === undefined) return undefined
  let stdOffset = -so[0]
  s = so[1]
  if (s.length === 0 || s[0] === ",") return { name: stdName, offset: stdOffset }
  const dst = tzsetName(s)
  if (dst === undefined) return undefined
  let dstName = dst[0]
  s = dst[1]
  let dstOffset: number
  if (s.length === 0 || s[0] === ",") dstOffset = stdOffset + 3600
  else {
    const d = tzsetOffset(s)
    if (d === undefined) return undefined
    dstOffset = -d[0]
    s = d[1]
  }
  if (s.length === 0) s = ",M3.2.0,M11.1.0"
  if (s[0] !== "," && s[0] !== ";") return undefined
  s = s.slice(1)
  const start = tzsetRule(s)
  if (start === undefined || start[1][0] !== ",") return undefined
  const end = tzsetRule(start[1].slice(1))
  if (end === undefined || end[1].length > 0) return undefined
  const year = yearOf(sec)
  const ysec = sec - yearStart(year)
  let startSec = tzruleTime(year, start[0], stdOffset)
  let endSec = tzruleTime(year, end[0], dstOffset)
  if (endSec < startSec) {
    ;[startSec, endSec] = [endSec, startSec]
    ;[stdName, dstName] = [dstName, stdName]
    ;[stdOffset, dstOffset] = [dstOffset, stdOffset]
  }
  if (ysec < startSec || ysec >= endSec) return { name: stdName, offset: stdOffset }
  return { name: dstName, offset: dstOffset }
}

const cache = new Map<string, Location | undefined>()

/** The zone named `name` from the system's zoneinfo files, or undefined when there is none. */
export const loadZoneFile = (name: string): Location | undefined => {
  if (cache.has(name)) return cache.get(name)
  let loc: Location | undefined
  if (!(name.includes("..") || name.startsWith("/") || name.startsWith("\\"))) {
    for (const dir of zoneDirs) {
      try {
        loc = parseTZif(name, readFileSync(dir + name))
      } catch {
        loc = undefined
      }
      if (loc !== undefined) break
    }
  }
  cache.set(name, loc)
  return loc
}
