/**
 * Go's strconv, as far as text/template and fmt need it: float formatting (shortest and fixed precision, rounded
 * exactly, ties to even), quoting, unquoting and Go's integer and float literal syntax.
 *
 * @internal
 */

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder("utf-8")

/** The UTF-8 bytes of a string. */
export const utf8 = (s: string): Uint8Array => utf8Encoder.encode(s)

/** A string from UTF-8 bytes (invalid sequences become U+FFFD, as a Go string holding them prints). */
export const fromUtf8 = (bytes: Uint8Array): string => utf8Decoder.decode(bytes)

/** The length of a string in UTF-8 bytes, as Go's `len`. */
export const byteLength = (s: string): number => {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4
        i++
      } else n += 3
    } else n += 3
  }
  return n
}

/** The number of runes (code points) in a string, as Go's `utf8.RuneCountInString`. */
export const runeCount = (s: string): number => {
  let n = 0
  for (const _ of s) n++
  return n
}

/** Compares strings byte-wise in UTF-8, as Go does (code point order). */
export const compareStrings = (a: string, b: string): number => {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!
    const y = b.codePointAt(i)!
    if (x !== y) return x < y ? -1 : 1
    if (x > 0xffff) i++
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0
}

// ---------------------------------------------------------------------------------------------------------------
// Unicode classes (Go's unicode package, approximated by the JS engine's Unicode tables).

const printRe = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u
const graphicSpaceRe = /^\p{Zs}$/u

/** Go's `strconv.IsPrint` (and `unicode.IsPrint`, which differs only for U+0020). */
export const isPrint = (r: number): boolean => {
  if (r <= 0xff) {
    if (r >= 0x20 && r <= 0x7e) return true
    if (r >= 0xa1 && r <= 0xff) return r !== 0xad
    return false
  }
  if (r >= 0xd800 && r <= 0xdfff) return false
  return printRe.test(String.fromCodePoint(r))
}

/** Go's `unicode.IsGraphic`: printable runes plus the Unicode space separators. */
export const isGraphic = (r: number): boolean =>
  isPrint(r) || (r > 0xff && graphicSpaceRe.test(String.fromCodePoint(r))) || r === 0xa0

/** Go's `unicode.IsSpace`. */
export const isSpace = (r: number): boolean => {
  if (r <= 0xff) return r === 0x20 || (r >= 0x09 && r <= 0x0d) || r === 0x85 || r === 0xa0
  return /^\p{White_Space}$/u.test(String.fromCodePoint(r))
}

const upperRe = /^\p{Lu}$/u
const lowerRe = /^\p{Ll}$/u
const titleRe = /^\p{Lt}$/u
const letterRe = /^\p{L}$/u
const digitRe = /^\p{Nd}$/u
const numberRe = /^\p{N}$/u
const punctRe = /^\p{P}$/u

/** Go's `unicode.IsUpper`. */
export const isUpper = (r: number): boolean =>
  r < 0x80 ? r >= 0x41 && r <= 0x5a : upperRe.test(String.fromCodePoint(r))
/** Go's `unicode.IsLower`. */
export const isLower = (r: number): boolean =>
  r < 0x80 ? r >= 0x61 && r <= 0x7a : lowerRe.test(String.fromCodePoint(r))
/** Go's `unicode.IsTitle`. */
export const isTitle = (r: number): boolean => r >= 0x80 && titleRe.test(String.fromCodePoint(r))
/** Go's `unicode.IsLetter`. */
export const isLetter = (r: number): boolean =>
  r < 0x80 ? (r >= 0x41 && r <= 0x5a) || (r >= 0x61 && r <= 0x7a) : letterRe.test(String.fromCodePoint(r))
/** Go's `unicode.IsDigit`. */
export const isDigit = (r: number): boolean =>
  r < 0x80 ? r >= 0x30 && r <= 0x39 : digitRe.test(String.fromCodePoint(r))
/** Go's `unicode.IsNumber`. */
export const isNumber = (r: number): boolean =>
  r < 0x80 ? r >= 0x30 && r <= 0x39 : numberRe.test(String.fromCodePoint(r))
/** Go's `unicode.IsPunct`. */
export const isPunct = (r: number): boolean => punctRe.test(String.fromCodePoint(r))

// Go maps case rune by rune (simple case mapping): a rune whose full mapping has several runes keeps itself.
const mapRune = (r: number, f: (s: string) => string): number => {
  if (r === 0x130) return f === lowerString ? 0x69 : r
  const s = String.fromCodePoint(r)
  const m = f(s)
  const c = m.codePointAt(0)!
  return m.length === String.fromCodePoint(c).length ? c : r
}
const lowerString = (s: string): string => s.toLowerCase()
const upperString = (s: string): string => s.toUpperCase()

/** Go's `unicode.ToUpper`. */
export const toUpperRune = (r: number): number =>
  r < 0x80 ? (r >= 0x61 && r <= 0x7a ? r - 32 : r) : mapRune(r, upperString)
/** Go's `unicode.ToLower`. */
export const toLowerRune = (r: number): number =>
  r < 0x80 ? (r >= 0x41 && r <= 0x5a ? r + 32 : r) : mapRune(r, lowerString)

const titleCases: Record<number, number> = {
  452: 0x1c5,
  453: 0x1c5,
  454: 0x1c5,
  455: 0x1c8,
  456: 0x1c8,
  457: 0x1c8,
  458: 0x1cb,
  459: 0x1cb,
  460: 0x1cb,
  497: 0x1f2,
  498: 0x1f2,
  499: 0x1f2
}
/** Go's `unicode.ToTitle`. */
export const toTitleRune = (r: number): number => titleCases[r] ?? toUpperRune(r)

/** Go's `strings.ToUpper`. */
export const toUpper = (s: string): string => {
  let out = ""
  for (const ch of s) out += String.fromCodePoint(toUpperRune(ch.codePointAt(0)!))
  return out
}
/** Go's `strings.ToLower`. */
export const toLower = (s: string): string => {
  let out = ""
  for (const ch of s) out += String.fromCodePoint(toLowerRune(ch.codePointAt(0)!))
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Quoting.

const hexLower = "0123456789abcdef"

const appendEscapedRune = (r: number, quote: number, asciiOnly: boolean, graphicOnly: boolean): string => {
  if (r === quote || r === 0x5c) return `\\${String.fromCodePoint(r)}`
  if (asciiOnly) {
    if (r < 0x80 && isPrint(r)) return String.fromCodePoint(r)
  } else if (isPrint(r) || (graphicOnly && isGraphic(r))) {
    return String.fromCodePoint(r)
  }
  switch (r) {
    case 0x07:
      return "\\a"
    case 0x08:
      return "\\b"
    case 0x0c:
      return "\\f"
    case 0x0a:
      return "\\n"
    case 0x0d:
      return "\\r"
    case 0x09:
      return "\\t"
    case 0x0b:
      return "\\v"
  }
  if (r < 0x20 || r === 0x7f) return `\\x${hexLower[r >> 4]}${hexLower[r & 0xf]}`
  if (r >= 0xd800 && r <= 0xdfff) r = 0xfffd
  if (r < 0x10000) return `\\u${r.toString(16).padStart(4, "0")}`
  return `\\U${r.toString(16).padStart(8, "0")}`
}

/** Go's `strconv.Quote` (or `QuoteToASCII`, or `QuoteToGraphic`). */
export const quote = (s: string, asciiOnly = false, graphicOnly = false): string => {
  let out = '"'
  for (const ch of s) out += appendEscapedRune(ch.codePointAt(0)!, 0x22, asciiOnly, graphicOnly)
  return `${out}"`
}

/** Go's `strconv.QuoteRune` (or `QuoteRuneToASCII`). */
export const quoteRune = (r: number, asciiOnly = false): string => {
  if (r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) r = 0xfffd
  return `'${appendEscapedRune(r, 0x27, asciiOnly, false)}'`
}

/** Go's `strconv.CanBackquote`. */
export const canBackquote = (s: string): boolean => {
  for (const ch of s) {
    const r = ch.codePointAt(0)!
    if (r === 0xfffd || r === 0xfeff) return false
    if (r === 0x60 || r === 0x7f) return false
    if (r < 0x20 && r !== 0x09) return false
    if (r >= 0xd800 && r <= 0xdfff) return false
  }
  return true
}

/** The error strconv's parsers give. */
export class StrconvError extends Error {}

const unhex = (c: string): number => {
  const n = Number.parseInt(c, 16)
  return Number.isNaN(n) ? -1 : n
}

// Reads one (possibly escaped) character at `i` of a quoted literal's body; returns its bytes and the next index.
const unquoteChar = (
  s: string,
  i: number,
  q: string
): { readonly bytes: Array<number>; readonly next: number } => {
  const c = s[i]!
  if (c === q && (q === "'" || q === '"')) throw new StrconvError("invalid syntax")
  if (c !== "\\") {
    const cp = s.codePointAt(i)!
    const w = cp > 0xffff ? 2 : 1
    return { bytes: Array.from(utf8(String.fromCodePoint(cp))), next: i + w }
  }
  const e = s[i + 1]
  if (e === undefined) throw new StrconvError("invalid syntax")
  switch (e) {
    case "a":
      return { bytes: [7], next: i + 2 }
    case "b":
      return { bytes: [8], next: i + 2 }
    case "f":
      return { bytes: [12], next: i + 2 }
    case "n":
      return { bytes: [10], next: i + 2 }
    case "r":
      return { bytes: [13], next: i + 2 }
    case "t":
      return { bytes: [9], next: i + 2 }
    case "v":
      return { bytes: [11], next: i + 2 }
    case "x":
    case "u":
    case "U": {
      const n = e === "x" ? 2 : e === "u" ? 4 : 8
      let v = 0
      for (let j = 0; j < n; j++) {
        const d = unhex(s[i + 2 + j] ?? "")
        if (d < 0) throw new StrconvError("invalid syntax")
        v = v * 16 + d
      }
      if (e === "x") {
        if (q === "'") return { bytes: Array.from(utf8(String.fromCodePoint(v))), next: i + 2 + n }
        return { bytes: [v], next: i + 2 + n }
      }
      if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) throw new StrconvError("invalid syntax")
      return { bytes: Array.from(utf8(String.fromCodePoint(v))), next: i + 2 + n }
    }
    case "0":
    case "1":
    case "2":
    case "3":
    case "4":
    case "5":
    case "6":
    case "7": {
      let v = 0
      for (let j = 0; j < 3; j++) {
        const d = s.charCodeAt(i + 1 + j) - 48
        if (!(d >= 0 && d <= 7)) throw new StrconvError("invalid syntax")
        v = v * 8 + d
      }
      if (v > 255) throw new StrconvError("invalid syntax")
      if (q === "'") return { bytes: Array.from(utf8(String.fromCodePoint(v))), next: i + 4 }
      return { bytes: [v], next: i + 4 }
    }
    case "\\":
      return { bytes: [0x5c], next: i + 2 }
    case "'":
    case '"':
      if (e !== q) throw new StrconvError("invalid syntax")
      return { bytes: [e.charCodeAt(0)], next: i + 2 }
    default:
      throw new StrconvError("invalid syntax")
  }
}

/** Go's `strconv.Unquote` for "…", `…` and '…' literals. */
export const unquote = (lit: string): string => {
  const n = lit.length
  if (n < 2) throw new StrconvError("invalid syntax")
  const q = lit[0]!
  if (q !== lit[n - 1]) throw new StrconvError("invalid syntax")
  const body = lit.slice(1, n - 1)
  if (q === "`") {
    if (body.includes("`")) throw new StrconvError("invalid syntax")
    return body.replaceAll("\r", "")
  }
  if (q !== '"' && q !== "'") throw new StrconvError("invalid syntax")
  if (body.includes("\n")) throw new StrconvError("invalid syntax")
  if (!body.includes("\\") && !body.includes(q)) {
    if (q === '"') return body
    if (runeCount(body) === 1) return body
  }
  const bytes: Array<number> = []
  let i = 0
  let count = 0
  while (i < body.length) {
    const { bytes: b, next } = unquoteChar(body, i, q)
    bytes.push(...b)
    i = next
    count++
    if (q === "'" && count > 1) throw new StrconvError("invalid syntax")
  }
  if (q === "'" && count !== 1) throw new StrconvError("invalid syntax")
  return fromUtf8(Uint8Array.from(bytes))
}

/** The rune of a Go character literal `'x'`, as `strconv.UnquoteChar` reads it. */
export const unquoteRune = (lit: string): number => {
  const body = lit.slice(1, -1)
  if (body.length === 0) throw new StrconvError("invalid syntax")
  const { bytes, next } = unquoteChar(body, 0, "'")
  if (next !== body.length) throw new StrconvError(`malformed character constant: ${lit}`)
  return fromUtf8(Uint8Array.from(bytes)).codePointAt(0)!
}

// ---------------------------------------------------------------------------------------------------------------
// Integer and float literals.

const underscoreOK = (s: string): boolean => {
  // Go's rule: underscores only between digits (or after a base prefix), and only with base 0 parsing.
  let saw = "^"
  let i = 0
  if (s.length >= 1 && (s[0] === "-" || s[0] === "+")) s = s.slice(1)
  let hex = false
  if (s.length >= 2 && s[0] === "0" && "bBoOxX".includes(s[1]!)) {
    i = 2
    saw = "0"
    hex = s[1] === "x" || s[1] === "X"
  }
  for (; i < s.length; i++) {
    const c = s[i]!
    if ((c >= "0" && c <= "9") || (hex && /[a-fA-F]/.test(c))) {
      saw = "0"
      continue
    }
    if (c === "_") {
      if (saw !== "0") return false
      saw = "_"
      continue
    }
    if (saw === "_") return false
    saw = "!"
  }
  return saw !== "_"
}

/** Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint(s, 0, 64)` as a bigint, or undefined when invalid. */
export const parseIntLiteral = (text: string, unsigned: boolean): bigint | undefined => {
  let s = text
  let neg = false
  if (s.startsWith("+") || s.startsWith("-")) {
    if (unsigned) return undefined
    neg = s[0] === "-"
    s = s.slice(1)
  }
  if (s === "") return undefined
  let base = 10
  let digits = s
  if (s[0] === "0" && s.length > 1) {
    const p = s[1]!.toLowerCase()
    if (p === "x") {
      base = 16
      digits = s.slice(2)
    } else if (p === "o") {
      base = 8
      digits = s.slice(2)
    } else if (p === "b") {
      base = 2
      digits = s.slice(2)
    } else {
      base = 8
      digits = s.slice(1)
    }
  }
  if (digits.includes("_")) {
    if (!underscoreOK(text)) return undefined
    digits = digits.replaceAll("_", "")
  }
  if (digits === "") return undefined
  const valid = base === 16 ? /^[0-9a-fA-F]+$/ : base === 8 ? /^[0-7]+$/ : base === 2 ? /^[01]+$/ : /^[0-9]+$/
  if (!valid.test(digits)) return undefined
  const prefix = base === 16 ? "0x" : base === 8 ? "0o" : base === 2 ? "0b" : ""
  let v = BigInt(prefix + digits)
  if (neg) v = -v
  if (unsigned) return v <= 0xffffffffffffffffn ? v : undefined
  return v >= -(1n << 63n) && v < 1n << 63n ? v : undefined
}

/** Go's `strconv.ParseInt(s, base, 64)` for a base 2..36 (or 0), or undefined when invalid or out of range. */
export const parseInt64 = (s: string, base: number): bigint | undefined => {
  if (base === 0) return parseIntLiteral(s, false)
  let t = s
  let neg = false
  if (t.startsWith("+") || t.startsWith("-")) {
    neg = t[0] === "-"
    t = t.slice(1)
  }
  if (t === "") return undefined
  let v = 0n
  const b = BigInt(base)
  for (const c of t.toLowerCase()) {
    const d = c >= "0" && c <= "9" ? c.charCodeAt(0) - 48 : c >= "a" && c <= "z" ? c.charCodeAt(0) - 87 : 99
    if (d >= base) return undefined
    v = v * b + BigInt(d)
  }
  if (neg) v = -v
  return v >= -(1n << 63n) && v < 1n << 63n ? v : undefined
}

/** Go's `strconv.ParseFloat(s, 64)`, or undefined when invalid. Out-of-range values give ±Inf (Go errs then). */
export const parseFloat64 = (text: string): number | undefined => {
  let s = text
  if (s.includes("_")) {
    if (!underscoreOK(s)) return undefined
    s = s.replaceAll("_", "")
  }
  let sign = 1
  let body = s
  if (body.startsWith("+") || body.startsWith("-")) {
    sign = body[0] === "-" ? -1 : 1
    body = body.slice(1)
  }
  const lower = body.toLowerCase()
  if (lower === "inf" || lower === "infinity") return sign * Number.POSITIVE_INFINITY
  if (lower === "nan") return Number.NaN
  if (/^0x/i.test(body)) {
    const m = /^0x([0-9a-f]*)(?:\.([0-9a-f]*))?p([+-]?[0-9]+)$/i.exec(body)
    if (m === null || (m[1] === "" && (m[2] ?? "") === "")) return undefined
    const mant = BigInt(`0x${m[1] || "0"}${m[2] ?? ""}`)
    const exp = Number(m[3]) - 4 * (m[2] ?? "").length
    return sign * Number(mant) * 2 ** exp
  }
  if (!/^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?$/i.test(body)) return undefined
  const v = sign * Number(body)
  // Go reports out-of-range values as errors.
  return Number.isFinite(v) ? v : undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Float formatting.

interface Digits {
  d: string // significant digits, no leading or trailing zeros
  dp: number // position of the decimal point relative to d
}

const shortestDigits = (x: number, bitSize: 32 | 64): Digits => {
  if (x === 0) return { d: "", dp: 0 }
  let e: string
  if (bitSize === 32) {
    const f = Math.fround(x)
    e = f.toExponential()
    for (let p = 0; p <= 8; p++) {
      const c = f.toExponential(p)
      if (Math.fround(Number(c)) === f) {
        e = c
        break
      }
    }
  } else {
    e = x.toExponential()
  }
  const [mant, exp] = e.split("e") as [string, string]
  const d = mant.replace("-", "").replace(".", "").replace(/0+$/, "")
  return { d, dp: Number(exp) + 1 }
}

const exactDigits = (x: number): Digits => {
  if (x === 0) return { d: "", dp: 0 }
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, Math.abs(x))
  const bits = view.getBigUint64(0)
  const expBits = Number((bits >> 52n) & 0x7ffn)
  let mant = bits & ((1n << 52n) - 1n)
  let exp: number
  if (expBits === 0) exp = -1074
  else {
    mant |= 1n << 52n
    exp = expBits - 1075
  }
  let digits: string
  let dp: number
  if (exp >= 0) {
    digits = (mant << BigInt(exp)).toString()
    dp = digits.length
  } else {
    digits = (mant * 5n ** BigInt(-exp)).toString()
    dp = digits.length - -exp
  }
  const trimmed = digits.replace(/0+$/, "")
  return { d: trimmed, dp }
}

// Rounds to nd digits, ties to even, as Go's decimal.Round.
const roundDigits = (a: Digits, nd: number): Digits => {
  if (nd < 0 || nd >= a.d.length) return a
  const c = a.d.charCodeAt(nd) - 48
  let up: boolean
  if (c === 5 && nd + 1 === a.d.length) up = nd > 0 && (a.d.charCodeAt(nd - 1) - 48) % 2 === 1
  else up = c >= 5
  if (!up) {
    const d = a.d.slice(0, nd).replace(/0+$/, "")
    return { d, dp: d === "" ? 0 : a.dp }
  }
  let i = nd - 1
  while (i >= 0 && a.d[i] === "9") i--
  if (i < 0) return { d: "1", dp: a.dp + 1 }
  return { d: a.d.slice(0, i) + String.fromCharCode(a.d.charCodeAt(i) + 1), dp: a.dp }
}

const fmtE = (neg: boolean, digs: Digits, prec: number, fmt: string): string => {
  let out = neg ? "-" : ""
  out += digs.d.length === 0 ? "0" : digs.d[0]
  if (prec > 0) {
    out += "."
    let i = 1
    const m = Math.min(digs.d.length, prec + 1)
    if (i < m) {
      out += digs.d.slice(i, m)
      i = m
    }
    for (; i <= prec; i++) out += "0"
  }
  out += fmt
  let exp = digs.dp - 1
  if (digs.d.length === 0) exp = 0
  out += exp < 0 ? "-" : "+"
  exp = Math.abs(exp)
  out += exp < 10 ? `0${exp}` : String(exp)
  return out
}

const fmtF = (neg: boolean, digs: Digits, prec: number): string => {
  let out = neg ? "-" : ""
  if (digs.dp > 0) {
    const m = Math.min(digs.d.length, digs.dp)
    out += digs.d.slice(0, m)
    for (let i = m; i < digs.dp; i++) out += "0"
  } else out += "0"
  if (prec > 0) {
    out += "."
    for (let i = 1; i <= prec; i++) {
      const j = digs.dp + i - 1
      out += j >= 0 && j < digs.d.length ? digs.d[j] : "0"
    }
  }
  return out
}

/**
 * Go's `strconv.FormatFloat(x, fmt, prec, bitSize)` for the formats e, E, f, g, G (prec -1: shortest).
 */
export const formatFloat = (x: number, fmt: string, prec: number, bitSize: 32 | 64 = 64): string => {
  if (Number.isNaN(x)) return "NaN"
  if (x === Number.POSITIVE_INFINITY) return "+Inf"
  if (x === Number.NEGATIVE_INFINITY) return "-Inf"
  if (bitSize === 32) x = Math.fround(x)
  const neg = x < 0 || Object.is(x, -0)
  const shortest = prec < 0
  let digs: Digits
  if (shortest) {
    digs = shortestDigits(Math.abs(x), bitSize)
    switch (fmt) {
      case "e":
      case "E":
        prec = Math.max(digs.d.length - 1, 0)
        break
      case "f":
        prec = Math.max(digs.d.length - digs.dp, 0)
        break
      case "g":
      case "G":
        prec = digs.d.length
        break
    }
  } else {
    const exact = exactDigits(Math.abs(x))
    switch (fmt) {
      case "e":
      case "E":
        digs = roundDigits(exact, prec + 1)
        break
      case "f":
        digs = roundDigits(exact, exact.dp + prec)
        break
      case "g":
      case "G":
        if (prec === 0) prec = 1
        digs = roundDigits(exact, prec)
        break
      default:
        digs = roundDigits(exact, 1)
    }
  }
  switch (fmt) {
    case "e":
    case "E":
      return fmtE(neg, digs, prec, fmt)
    case "f":
      return fmtF(neg, digs, prec)
    case "g":
    case "G": {
      let eprec = prec
      if (eprec > digs.d.length && digs.d.length >= digs.dp) eprec = digs.d.length
      if (shortest) eprec = 6
      const exp = digs.dp - 1
      if (exp < -4 || exp >= eprec) {
        if (prec > digs.d.length) prec = digs.d.length
        return fmtE(neg, digs, prec - 1, fmt === "g" ? "e" : "E")
      }
      if (prec > digs.dp) prec = digs.d.length
      return fmtF(neg, digs, Math.max(prec - digs.dp, 0))
    }
  }
  return `%${fmt}`
}

/** Go's `strconv.FormatFloat(x, 'x', prec, 64)`: hexadecimal mantissa and binary exponent. */
export const formatFloatHex = (x: number, prec: number, upper: boolean): string => {
  if (Number.isNaN(x)) return "NaN"
  if (!Number.isFinite(x)) return x > 0 ? "+Inf" : "-Inf"
  const neg = x < 0 || Object.is(x, -0)
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, Math.abs(x))
  const bits = view.getBigUint64(0)
  const expBits = Number((bits >> 52n) & 0x7ffn)
  let mant = bits & ((1n << 52n) - 1n)
  let exp = expBits - 1023
  if (expBits === 0) {
    if (mant === 0n) exp = 0
    else {
      exp = -1022
      while ((mant & (1n << 52n)) === 0n) {
        mant <<= 1n
        exp--
      }
      mant &= (1n << 52n) - 1n
    }
  }
  // mant is 52 fraction bits: 13 hex digits after the leading 1.
  let lead = x === 0 ? 0n : 1n
  let frac = mant
  let fracDigits = 13
  if (prec >= 0 && prec < 13) {
    const shift = BigInt(4 * (13 - prec))
    const full = (lead << 52n) | frac
    const half = 1n << (shift - 1n)
    let q = full >> shift
    const r = full & ((1n << shift) - 1n)
    if (r > half || (r === half && (q & 1n) === 1n)) q += 1n
    if (q >> BigInt(4 * prec) > 1n) {
      q >>= 1n
      exp++
    }
    lead = q >> BigInt(4 * prec)
    frac = q & ((1n << BigInt(4 * prec)) - 1n)
    fracDigits = prec
  }
  let fracHex = fracDigits > 0 ? frac.toString(16).padStart(fracDigits, "0") : ""
  if (prec < 0) fracHex = fracHex.replace(/0+$/, "")
  else fracHex = fracHex.padEnd(prec, "0")
  let out = `${neg ? "-" : ""}0x${lead.toString(16)}`
  if (fracHex !== "") out += `.${fracHex}`
  out += `p${exp >= 0 ? "+" : "-"}${String(Math.abs(exp)).padStart(2, "0")}`
  return upper ? out.toUpperCase() : out
}
