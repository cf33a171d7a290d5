/**
 * Masterminds/semver v3, for Sprig's `semver` and `semverCompare`: lenient version parsing, comparison, and
 * constraints (`=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `^`, x-ranges, hyphen ranges, `,` and `||`).
 *
 * @internal
 */
import { compile } from "./regexp.ts"
import { compareStrings } from "./strconv.ts"
import { GoError, type GoFunc, type GoType, goType, T } from "./values.ts"

const semVerRegex =
  `v?([0-9]+)(\\.[0-9]+)?(\\.[0-9]+)?` +
  `(-([0-9A-Za-z\\-]+(\\.[0-9A-Za-z\\-]+)*))?` +
  `(\\+([0-9A-Za-z\\-]+(\\.[0-9A-Za-z\\-]+)*))?`
const cvRegex =
  `v?([0-9|x|X|\\*]+)(\\.[0-9|x|X|\\*]+)?(\\.[0-9|x|X|\\*]+)?` +
  `(-([0-9A-Za-z\\-]+(\\.[0-9A-Za-z\\-]+)*))?` +
  `(\\+([0-9A-Za-z\\-]+(\\.[0-9A-Za-z\\-]+)*))?`
const ops = `=||!=|>|<|>=|=>|<=|=<|~|~>|\\^`

const num = "0123456789"
const allowed = `abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-${num}`
const containsOnly = (s: string, comp: string): boolean => [...s].every((c) => comp.includes(c))

const MAX = 0xffffffffffffffffn
const parseUint = (s: string): bigint | undefined => {
  if (!/^[0-9]+$/.test(s)) return undefined
  const v = BigInt(s)
  return v > MAX ? undefined : v
}

const methods = new Map<string, GoFunc>()

/** `*semver.Version`. */
export const versionType: GoType = { kind: "ptr", name: "*semver.Version", methods }

/** A parsed version. */
export class Version {
  readonly [goType] = versionType
  readonly major: bigint
  readonly minor: bigint
  readonly patch: bigint
  readonly pre: string
  readonly metadata: string
  readonly original: string
  constructor(major: bigint, minor: bigint, patch: bigint, pre: string, metadata: string, original: string) {
    this.major = major
    this.minor = minor
    this.patch = patch
    this.pre = pre
    this.metadata = metadata
    this.original = original
  }
  toString(): string {
    let s = `${this.major}.${this.minor}.${this.patch}`
    if (this.pre !== "") s += `-${this.pre}`
    if (this.metadata !== "") s += `+${this.metadata}`
    return s
  }
}

const validatePrerelease = (p: string): void => {
  for (const part of p.split(".")) {
    if (containsOnly(part, num)) {
      if (part.length > 1 && part[0] === "0") throw new GoError("Version segment starts with 0")
    } else if (!containsOnly(part, allowed)) throw new GoError("Invalid Prerelease string")
  }
}

const validateMetadata = (m: string): void => {
  for (const part of m.split("."))
    if (!containsOnly(part, allowed)) throw new GoError("Invalid Metadata string")
}

/** `semver.NewVersion`. */
export const newVersion = (v: string): Version => {
  const m = compile(`^${semVerRegex}$`).execAt(v, 0)
  if (m === null) throw new GoError("Invalid Semantic Version")
  const seg = (s: string | undefined): bigint => {
    if (s === undefined || s === "") return 0n
    const x = parseUint(s.replace(/^\./, ""))
    if (x === undefined)
      throw new GoError(
        `Error parsing version segment: strconv.ParseUint: parsing "${s.replace(/^\./, "")}": value out of range`
      )
    return x
  }
  const major = seg(m[1])
  const minor = seg(m[2])
  const patch = seg(m[3])
  const pre = m[5] ?? ""
  const metadata = m[8] ?? ""
  if (pre !== "") validatePrerelease(pre)
  if (metadata !== "") validateMetadata(metadata)
  return new Version(major, minor, patch, pre, metadata, v)
}

const cmp = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0)

const comparePrePart = (s: string, o: string): number => {
  if (s === o) return 0
  if (s === "") return o !== "" ? -1 : 1
  if (o === "") return s !== "" ? 1 : -1
  const oi = parseUint(o)
  const si = parseUint(s)
  if (oi === undefined && si === undefined) return compareStrings(s, o) > 0 ? 1 : -1
  if (oi === undefined) return -1
  if (si === undefined) return 1
  return si > oi ? 1 : -1
}

const comparePrerelease = (v: string, o: string): number => {
  const sp = v.split(".")
  const op = o.split(".")
  const l = Math.max(sp.length, op.length)
  for (let i = 0; i < l; i++) {
    const d = comparePrePart(sp[i] ?? "", op[i] ?? "")
    if (d !== 0) return d
  }
  return 0
}

/** `Version.Compare`. */
export const compare = (v: Version, o: Version): number => {
  const d = cmp(v.major, o.major) || cmp(v.minor, o.minor) || cmp(v.patch, o.patch)
  if (d !== 0) return d
  if (v.pre === "" && o.pre === "") return 0
  if (v.pre === "") return 1
  if (o.pre === "") return -1
  return comparePrerelease(v.pre, o.pre)
}

interface Constraint {
  readonly con: Version
  readonly orig: string
  readonly origfunc: string
  readonly minorDirty: boolean
  readonly dirty: boolean
  readonly patchDirty: boolean
}

const isX = (x: string | undefined): boolean => x === "x" || x === "*" || x === "X"

const parseConstraint = (c: string): Constraint => {
  if (c.length > 0) {
    const m = compile(`^\\s*(${ops})\\s*(${cvRegex})\\s*$`).execAt(c, 0)
    if (m === null) throw new GoError(`improper constraint: ${c}`)
    const m3 = m[3] ?? ""
    const m4 = m[4] ?? ""
    const m5 = m[5] ?? ""
    const m6 = m[6] ?? ""
    let ver = m[2] ?? ""
    let minorDirty = false
    let patchDirty = false
    let dirty = false
    if (isX(m3) || m3 === "") {
      ver = `0.0.0${m6}`
      dirty = true
    } else if (isX(m4.replace(/^\./, "")) || m4 === "") {
      minorDirty = true
      dirty = true
      ver = `${m3}.0.0${m6}`
    } else if (isX(m5.replace(/^\./, "")) || m5 === "") {
      dirty = true
      patchDirty = true
      ver = `${m3}${m4}.0${m6}`
    }
    let con: Version
    try {
      con = newVersion(ver)
    } catch {
      throw new GoError("constraint Parser Error")
    }
    return { con, orig: m[2] ?? "", origfunc: m[1] ?? "", minorDirty, dirty, patchDirty }
  }
  return {
    con: new Version(0n, 0n, 0n, "", "", "0.0.0"),
    orig: c,
    origfunc: "",
    minorDirty: false,
    patchDirty: false,
    dirty: true
  }
}

const preBlocked = (v: Version, c: Constraint): boolean => v.pre !== "" && c.con.pre === ""

const tilde = (v: Version, c: Constraint): boolean => {
  if (preBlocked(v, c)) return false
  if (compare(v, c.con) < 0) return false
  if (c.con.major === 0n && c.con.minor === 0n && c.con.patch === 0n && !c.minorDirty && !c.patchDirty)
    return true
  if (v.major !== c.con.major) return false
  if (v.minor !== c.con.minor && !c.minorDirty) return false
  return true
}

const checks: Record<string, (v: Version, c: Constraint) => boolean> = {
  "": (v, c) => (preBlocked(v, c) ? false : c.dirty ? tilde(v, c) : compare(v, c.con) === 0),
  "!=": (v, c) => {
    if (c.dirty) {
      if (preBlocked(v, c)) return false
      if (c.con.major !== v.major) return true
      if (c.con.minor !== v.minor && !c.minorDirty) return true
      if (c.minorDirty) return false
      if (c.con.patch !== v.patch && !c.patchDirty) return true
      if (c.patchDirty) {
        if (v.pre !== "" || c.con.pre !== "") return comparePrerelease(v.pre, c.con.pre) !== 0
        return false
      }
    }
    return compare(v, c.con) !== 0
  },
  ">": (v, c) => {
    if (preBlocked(v, c)) return false
    if (!c.dirty) return compare(v, c.con) === 1
    if (v.major > c.con.major) return true
    if (v.major < c.con.major) return false
    if (c.minorDirty) return false
    if (c.patchDirty) return v.minor > c.con.minor
    return compare(v, c.con) === 1
  },
  "<": (v, c) => !preBlocked(v, c) && compare(v, c.con) < 0,
  ">=": (v, c) => !preBlocked(v, c) && compare(v, c.con) >= 0,
  "<=": (v, c) => {
    if (preBlocked(v, c)) return false
    if (!c.dirty) return compare(v, c.con) <= 0
    if (v.major > c.con.major) return false
    if (v.major === c.con.major && v.minor > c.con.minor && !c.minorDirty) return false
    return true
  },
  "~": tilde,
  "^": (v, c) => {
    if (preBlocked(v, c)) return false
    if (compare(v, c.con) < 0) return false
    if (c.con.major > 0n || c.minorDirty) return v.major === c.con.major
    if (c.con.major === 0n && v.major > 0n) return false
    if (c.con.minor > 0n || c.patchDirty) return v.minor === c.con.minor
    if (c.con.minor === 0n && v.minor > 0n) return false
    return c.con.patch === v.patch
  }
}
checks["="] = checks[""]!
checks["=>"] = checks[">="]!
checks["=<"] = checks["<="]!
checks["~>"] = checks["~"]!

const rewriteRange = (i: string): string => {
  const re = compile(`\\s*(${cvRegex})\\s+-\\s+(${cvRegex})\\s*`)
  const all = re.allMatches(i, -1)
  if (all.length === 0) return i
  let o = i
  for (const m of all) o = o.replace(m[0], `>= ${m[1]}, <= ${m[11]}`)
  return o
}

/** `semver.NewConstraint(c).Check(v)`. */
export const checkConstraint = (constraint: string, v: Version): boolean => {
  const c = rewriteRange(constraint)
  const valid = compile(`^(\\s*(${ops})\\s*(${cvRegex})\\s*)((?:\\s+|,\\s*)(${ops})\\s*(${cvRegex})\\s*)*$`)
  const find = compile(`(${ops})\\s*(${cvRegex})`)
  const ors = c.split("||").map((part) => {
    if (!valid.matchString(part)) throw new GoError(`improper constraint: ${part}`)
    const cs = find.findAllString(part, -1) ?? [part]
    return cs.map(parseConstraint)
  })
  return ors.some((and) => and.every((x) => checks[x.origfunc]!(v, x)))
}

/** Sprig's `semverCompare`. */
export const semverCompare = (constraint: string, version: string): boolean => {
  const c = rewriteRange(constraint)
  // Validate the constraint before the version, as Sprig does.
  checkConstraint(c, new Version(0n, 0n, 0n, "", "", "0.0.0"))
  return checkConstraint(constraint, newVersion(version))
}

/** Sprig's `semver`. */
export const semverParse = (version: string): Version => newVersion(version)

const m = (name: string, result: GoType, f: (v: Version) => unknown): void => {
  methods.set(name, {
    name,
    params: [],
    variadic: false,
    result,
    call: function (this: unknown) {
      return f(this as Version)
    } as never
  })
}
m("String", T.string, (v) => v.toString())
m("Original", T.string, (v) => v.original)
m("Major", T.uint64, (v) => v.major)
m("Minor", T.uint64, (v) => v.minor)
m("Patch", T.uint64, (v) => v.patch)
m("Prerelease", T.string, (v) => v.pre)
m("Metadata", T.string, (v) => v.metadata)
methods.set("Compare", {
  name: "Compare",
  params: [versionType],
  variadic: false,
  result: T.int,
  call: function (this: unknown, o: Version) {
    return compare(this as Version, o)
  } as never
})
for (const [name, test] of [
  ["LessThan", (d: number) => d < 0],
  ["GreaterThan", (d: number) => d > 0],
  ["Equal", (d: number) => d === 0]
] as const) {
  methods.set(name, {
    name,
    params: [versionType],
    variadic: false,
    result: T.bool,
    call: function (this: unknown, o: Version) {
      return test(compare(this as Version, o))
    } as never
  })
}
methods.set("MarshalJSON", {
  name: "MarshalJSON",
  params: [],
  variadic: false,
  result: T.string,
  call: function (this: unknown) {
    return JSON.stringify((this as Version).toString())
  } as never
})
