/**
 * Sprig v3's text function map (`sprig.TxtFuncMap()`), with Go's signatures so that arguments are checked (and
 * refused) as Go refuses them, and Sprig's quirks kept. Functions nth does not implement are listed in
 * `unimplemented`; parsing a template that names one fails.
 *
 * @internal
 */
import { createHash, randomBytes, randomInt, randomUUID } from "node:crypto"
import * as GoTimeModule from "../GoTime.ts"
import { fn } from "./builtins.ts"
import { sprintf } from "./fmt.ts"
import { marshal, marshalIndent, marshalRaw, unmarshal } from "./json.ts"
import { checkElements, checkStringBytes, maxElements, maxStringBytes } from "./limits.ts"
import { compile, quoteMeta } from "./regexp.ts"
import { semverCompare, semverParse, versionType } from "./semver.ts"
import {
  byteLen,
  byteSlice,
  empty,
  listItems,
  nilDeref,
  reflectKind,
  sliceBounds,
  strval,
  toFloat64,
  toInt,
  toInt64
} from "./sprigSupport.ts"
import {
  byteLength,
  canBackquote,
  compareStrings,
  formatFloat,
  fromUtf8,
  quote as goQuote,
  isLetter,
  isLower,
  isNumber,
  isPunct,
  isSpace,
  isTitle,
  isUpper,
  parseInt64,
  runeCount,
  toLower,
  toLowerRune,
  toTitleRune,
  toUpper,
  toUpperRune,
  utf8
} from "./strconv.ts"
import * as time from "./time.ts"
import { buildURL, type GoURL, hostname, parseURL, userinfo } from "./url.ts"
import {
  annotate,
  deepEqual,
  floatOf,
  GoError,
  type GoFunc,
  intOf,
  isFloatKind,
  isIntKind,
  isPlainStruct,
  isUintKind,
  kindOf,
  nilOf,
  sliceOf,
  sortedEntries,
  structFields,
  T,
  TC,
  typeName,
  typeOf
} from "./values.ts"

const { GoTime } = GoTimeModule
type GoTime = GoTimeModule.GoTime

const S = T.string
const I = T.int
const A = T.any
const B = T.bool
const I64 = T.int64
const F = T.float64
const As = TC.sliceAny
const Ss = TC.sliceString
const Is = TC.sliceInt
const M = TC.mapStringAny
const MS = TC.mapStringString
const Time = GoTimeModule.types.time
const Ms = sliceOf(M)
const Ass = sliceOf(As)

// ---------------------------------------------------------------------------------------------------------------
// Strings

const trimSpaceRe =
  /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g

/** Go's `strings.TrimSpace`. */
const trimSpace = (s: string): string => s.replace(trimSpaceRe, "")

/** Go's `strings.Trim(s, cutset)`. */
const trimCutset = (s: string, cutset: string): string => {
  if (s === "" || cutset === "") return s
  const set = new Set([...cutset])
  const chars = [...s]
  let a = 0
  let b = chars.length
  while (a < b && set.has(chars[a]!)) a++
  while (b > a && set.has(chars[b - 1]!)) b--
  return chars.slice(a, b).join("")
}

const isSeparator = (r: number): boolean => {
  if (r <= 0x7f) {
    if (r >= 0x30 && r <= 0x39) return false
    if (r >= 0x61 && r <= 0x7a) return false
    if (r >= 0x41 && r <= 0x5a) return false
    if (r === 0x5f) return false
    return true
  }
  if (isLetter(r) || /^\p{Nd}$/u.test(String.fromCodePoint(r))) return false
  return isSpace(r)
}

/** Go's `strings.Title`. */
const title = (s: string): string => {
  let prev = 0x20
  let out = ""
  for (const ch of s) {
    const r = ch.codePointAt(0)!
    out += String.fromCodePoint(isSeparator(prev) ? toTitleRune(r) : r)
    prev = r
  }
  return out
}

/** goutils' `Uncapitalize` (whitespace-delimited). */
const untitle = (s: string): string => {
  if (s === "") return s
  let next = true
  let out = ""
  for (const ch of s) {
    const r = ch.codePointAt(0)!
    if (isSpace(r)) {
      next = true
      out += ch
    } else if (next) {
      out += String.fromCodePoint(toLowerRune(r))
      next = false
    } else out += ch
  }
  return out
}

/** goutils' `SwapCase`. */
const swapcase = (s: string): string => {
  if (s === "") return s
  let whitespace = true
  let out = ""
  for (const ch of s) {
    const r = ch.codePointAt(0)!
    if (isUpper(r) || isTitle(r)) {
      out += String.fromCodePoint(toLowerRune(r))
      whitespace = false
    } else if (isLower(r)) {
      out += String.fromCodePoint(whitespace ? toTitleRune(r) : toUpperRune(r))
      whitespace = false
    } else {
      whitespace = isSpace(r)
      out += ch
    }
  }
  return out
}

// goutils works on bytes, each taken as a rune (Latin-1).
const latin1Rune = (b: number): string => String.fromCodePoint(b)

/** goutils' `DeleteWhiteSpace` (byte-wise). */
const nospace = (s: string): string => {
  if (s === "") return s
  const b = utf8(s)
  let out = ""
  let count = 0
  for (const x of b) {
    if (!isSpace(x)) {
      out += latin1Rune(x)
      count++
    }
  }
  return count === b.length ? s : out
}

/** goutils' `Initials` (byte-wise, whitespace-delimited). */
const initials = (s: string): string => {
  if (s === "") return s
  let out = ""
  let lastWasGap = true
  for (const x of utf8(s)) {
    if (isSpace(x)) lastWasGap = true
    else if (lastWasGap) {
      out += latin1Rune(x)
      lastWasGap = false
    }
  }
  return out
}

/** goutils' `AbbreviateFull` (byte-wise). */
const abbreviateFull = (str: string, offset: number, maxWidth: number): string => {
  if (str === "") return ""
  if (maxWidth < 4) throw new GoError("stringutils illegal argument: Minimum abbreviation width is 4")
  const len = byteLen(str)
  if (len <= maxWidth) return str
  if (offset > len) offset = len
  if (len - offset < maxWidth - 3) offset = len - (maxWidth - 3)
  if (offset <= 4) return `${byteSlice(str, 0, maxWidth - 3)}...`
  if (maxWidth < 7)
    throw new GoError("stringutils illegal argument: Minimum abbreviation width with offset is 7")
  if (offset + maxWidth - 3 < len) return `...${abbreviateFull(byteSlice(str, offset), 0, maxWidth - 3)}`
  return `...${byteSlice(str, len - (maxWidth - 3))}`
}

const abbrev = (width: number, s: string): string => {
  if (width < 4) return s
  try {
    return abbreviateFull(s, 0, width)
  } catch {
    return ""
  }
}

const abbrevboth = (left: number, right: number, s: string): string => {
  if (right < 4 || (left > 0 && right < 7)) return s
  try {
    return abbreviateFull(s, left, right)
  } catch {
    return ""
  }
}

/** goutils' `WrapCustom` (byte-wise). */
const wrapCustom = (str: string, wrapLength: number, newLineStr: string, wrapLongWords: boolean): string => {
  if (str === "") return ""
  if (newLineStr === "") newLineStr = "\n"
  if (wrapLength < 1) wrapLength = 1
  const b = utf8(str)
  const s = (from: number, to?: number): string => fromUtf8(b.subarray(from, to))
  const inputLineLength = b.length
  let offset = 0
  let out = ""
  const lastSpace = (from: number, to: number): number => {
    for (let i = Math.min(to, b.length) - 1; i >= from; i--) if (b[i] === 0x20) return i - from
    return -1
  }
  while (inputLineLength - offset > wrapLength) {
    if (b[offset] === 0x20) {
      offset++
      continue
    }
    const end = wrapLength + offset + 1
    const spaceToWrapAt = lastSpace(offset, end) + offset
    // The UTF-16 length is at most the UTF-8 one (measuring the UTF-8 here would take quadratic time).
    if (out.length > maxStringBytes) checkStringBytes(out.length)
    if (spaceToWrapAt >= offset) {
      out += s(offset, spaceToWrapAt) + newLineStr
      offset = spaceToWrapAt + 1
    } else if (wrapLongWords) {
      out += s(offset, wrapLength + offset) + newLineStr
      offset += wrapLength
    } else {
      const e = wrapLength + offset
      let index = -1
      for (let i = e; i < b.length; i++)
        if (b[i] === 0x20) {
          index = i - e
          break
        }
      if (index === -1) {
        out += s(offset)
        offset = inputLineLength
      } else {
        const at = index + e
        out += s(offset, at) + newLineStr
        offset = at + 1
      }
    }
  }
  return out + s(offset)
}

const isConnector = (r: number): boolean => r === 0x2d || r === 0x5f || isSpace(r)
const isAlphabet = (r: number): boolean => {
  if (!isLetter(r)) return false
  if (r < 0x3400) return true
  if (r >= 0x4e00 && r <= 0x9fcc) return false
  if (r >= 0x3400 && r <= 0x4d85) return false
  if (r >= 0x20000 && r <= 0x2b81d) return false
  return true
}

/** xstrings v1.3.3's `ToCamelCase` (Sprig v3.2.3's `camelcase`). */
const camelcase = (str: string): string => {
  if (str.length === 0) return ""
  const runes = [...str].map((c) => c.codePointAt(0)!)
  let out = ""
  let r0 = 0
  let r1 = 0
  let idx = 0
  let size = 0
  while (idx < runes.length) {
    r0 = runes[idx++]!
    size = 1
    if (!isConnector(r0)) {
      r0 = toUpperRune(r0)
      break
    }
    out += String.fromCodePoint(r0)
  }
  if (idx >= runes.length) {
    if (size !== 0) out += String.fromCodePoint(r0)
    return out
  }
  while (idx < runes.length) {
    r1 = r0
    r0 = runes[idx++]!
    if (isConnector(r0) && isConnector(r1)) {
      out += String.fromCodePoint(r1)
      continue
    }
    if (isConnector(r1)) r0 = toUpperRune(r0)
    else {
      r0 = toLowerRune(r0)
      out += String.fromCodePoint(r1)
    }
  }
  return out + String.fromCodePoint(r0)
}

const WordType = {
  Invalid: 0,
  Number: 1,
  UpperCase: 2,
  Alphabet: 3,
  Connector: 4,
  Punct: 5,
  Other: 6
} as const
type WordType = (typeof WordType)[keyof typeof WordType]

const nextWord = (runes: ReadonlyArray<number>, start: number): [WordType, number, number] => {
  // returns [type, wordEnd, next]
  if (start >= runes.length) return [WordType.Invalid, start, start]
  let offset = start
  let r = runes[offset]!
  offset++
  let rest = offset
  let wt: WordType
  if (isConnector(r)) {
    wt = WordType.Connector
    while (rest < runes.length && isConnector(runes[rest]!)) rest++
    offset = rest
  } else if (isPunct(r)) {
    wt = WordType.Punct
    while (rest < runes.length && isPunct(runes[rest]!)) rest++
    offset = rest
  } else if (isUpper(r)) {
    wt = WordType.UpperCase
    if (rest < runes.length) {
      r = runes[rest]!
      if (isUpper(r)) {
        offset++
        rest++
        while (rest < runes.length) {
          r = runes[rest]!
          if (!isUpper(r)) break
          offset++
          rest++
        }
        if (rest < runes.length && isAlphabet(r)) {
          offset--
          rest = offset
        }
      } else if (isAlphabet(r)) {
        offset++
        rest++
        while (rest < runes.length) {
          r = runes[rest]!
          if (!isAlphabet(r) || isUpper(r)) break
          offset++
          rest++
        }
      }
    }
  } else if (isAlphabet(r)) {
    wt = WordType.Alphabet
    while (rest < runes.length) {
      r = runes[rest]!
      if (!isAlphabet(r) || isUpper(r)) break
      offset++
      rest++
    }
  } else if (isNumber(r)) {
    wt = WordType.Number
    while (rest < runes.length && isNumber(runes[rest]!)) {
      offset++
      rest++
    }
  } else {
    wt = WordType.Other
    while (rest < runes.length) {
      r = runes[rest]!
      if (isConnector(r) || isAlphabet(r) || isNumber(r) || isPunct(r)) break
      offset++
      rest++
    }
  }
  return [wt, offset, offset]
}

/** xstrings' `ToSnakeCase` / `ToKebabCase`. */
const camelCaseToLowerCase = (str: string, connector: string): string => {
  if (str.length === 0) return ""
  const runes = [...str].map((c) => c.codePointAt(0)!)
  let out = ""
  const toLowerWord = (wt: WordType, from: number, to: number): void => {
    if (wt !== WordType.UpperCase && wt !== WordType.Connector) {
      out += String.fromCodePoint(...runes.slice(from, to))
      return
    }
    for (let i = from; i < to; i++) {
      const r = runes[i]!
      if (isConnector(r)) out += connector
      else if (isUpper(r)) out += String.fromCodePoint(toLowerRune(r))
      else out += String.fromCodePoint(r)
    }
  }
  let pos = 0
  let [wt, end] = nextWord(runes, pos)
  let wordStart = pos
  pos = end
  while (pos < runes.length) {
    if (wt !== WordType.Connector) toLowerWord(wt, wordStart, end)
    const prev = wt
    const lastStart = wordStart
    const lastEnd = end
    wordStart = pos
    ;[wt, end] = nextWord(runes, pos)
    pos = end
    switch (prev) {
      case WordType.Number:
        while (wt === WordType.Alphabet || wt === WordType.Number) {
          toLowerWord(wt, wordStart, end)
          wordStart = pos
          ;[wt, end] = nextWord(runes, pos)
          pos = end
        }
        if (wt !== WordType.Invalid && wt !== WordType.Punct && wt !== WordType.Connector) out += connector
        break
      case WordType.Connector:
        toLowerWord(prev, lastStart, lastEnd)
        break
      case WordType.Punct:
        break
      default: {
        if (wt !== WordType.Number) {
          if (wt !== WordType.Connector && wt !== WordType.Punct) out += connector
          break
        }
        if (pos >= runes.length) break
        const lStart = wordStart
        const lEnd = end
        wordStart = pos
        ;[wt, end] = nextWord(runes, pos)
        pos = end
        if (wt !== WordType.Alphabet) {
          toLowerWord(WordType.Number, lStart, lEnd)
          if (wt !== WordType.Connector && wt !== WordType.Punct) out += connector
          break
        }
        out += connector
        toLowerWord(WordType.Number, lStart, lEnd)
        while (wt === WordType.Alphabet || wt === WordType.Number) {
          toLowerWord(wt, wordStart, end)
          wordStart = pos
          ;[wt, end] = nextWord(runes, pos)
          pos = end
        }
        if (wt !== WordType.Invalid && wt !== WordType.Connector && wt !== WordType.Punct) out += connector
      }
    }
  }
  toLowerWord(wt, wordStart, end)
  return out
}

const shuffle = (s: string): string => {
  if (s === "") return s
  const runes = [...s]
  for (let i = runes.length - 1; i > 0; i--) {
    const j = randomInt(i + 1)
    ;[runes[i], runes[j]] = [runes[j]!, runes[i]!]
  }
  return runes.join("")
}

const trunc = (c: number, s: string): string => {
  const len = byteLen(s)
  if (c < 0 && len + c > 0) return byteSlice(s, len + c)
  if (c >= 0 && len > c) return byteSlice(s, 0, c)
  return s
}

const substr = (start: number, end: number, s: string): string => {
  const len = byteLen(s)
  if (start < 0) {
    if (end < 0 || end > len) throw sliceBounds(0, end, len)
    return byteSlice(s, 0, end)
  }
  if (end < 0 || end > len) {
    if (start > len) throw sliceBounds(start, len, len)
    return byteSlice(s, start)
  }
  if (start > end) throw sliceBounds(start, end, len)
  return byteSlice(s, start, end)
}

const repeat = (count: number, s: string): string => {
  if (count < 0) throw new GoError("strings: negative Repeat count")
  if (s === "" || count === 0) return ""
  checkStringBytes(count * byteLength(s))
  return s.repeat(count)
}

/** Go's `strings.Split`/`SplitN` (n < 0: all). */
const splitN = (s: string, sep: string, n: number): Array<string> | null => {
  if (n === 0) return null
  if (s.length > maxElements) checkElements(pieces(s, sep, n))
  if (sep === "") {
    const runes = [...s]
    if (n < 0 || n > runes.length) n = runes.length
    const out = runes.slice(0, n - 1)
    out.push(runes.slice(n - 1).join(""))
    return runes.length === 0 ? [] : out
  }
  const out: Array<string> = []
  let rest = s
  while (n < 0 || out.length < n - 1) {
    const i = rest.indexOf(sep)
    if (i < 0) break
    out.push(rest.slice(0, i))
    rest = rest.slice(i + sep.length)
  }
  out.push(rest)
  return out
}

/** How many strings `splitN` makes (at most n when n > 0). */
const pieces = (s: string, sep: string, n: number): number => {
  let count = 1
  if (sep === "") count = runeCount(s)
  else for (let i = s.indexOf(sep); i >= 0; i = s.indexOf(sep, i + sep.length)) count++
  return n > 0 ? Math.min(n, count) : count
}

const indexMap = (parts: ReadonlyArray<string> | null): Map<string, unknown> => {
  const m = new Map<string, unknown>()
  ;(parts ?? []).forEach((p, i) => {
    m.set(`_${i}`, p)
  })
  return annotate(m, MS)
}

/** Sprig's `strslice`. */
const strslice = (v: unknown): Array<string> => {
  const t = typeOf(v)
  if (t?.name === "[]string") return [...(v as Array<string>)]
  if (t?.kind === "slice" || t?.kind === "array") {
    return (listItems(v) ?? []).filter((x) => x !== null && x !== undefined).map(strval)
  }
  if (t === undefined) return []
  return [strval(v)]
}

const quoteAll = (...xs: Array<unknown>): string =>
  xs
    .filter((x) => x !== null && x !== undefined)
    .map((x) => goQuote(strval(x)))
    .join(" ")

const squoteAll = (...xs: Array<unknown>): string =>
  xs
    .filter((x) => x !== null && x !== undefined)
    .map((x) => sprintf("'%v'", [x]))
    .join(" ")

const cat = (...xs: Array<unknown>): string => {
  const v = xs.filter((x) => x !== null && x !== undefined)
  return sprintf("%v ".repeat(v.length).trim(), v)
}

const indent = (spaces: number, v: string): string => {
  if (spaces > 0) {
    let lines = 1
    for (let i = v.indexOf("\n"); i >= 0; i = v.indexOf("\n", i + 1)) lines++
    checkStringBytes(spaces * lines + byteLength(v))
  }
  const pad = spaces > 0 ? " ".repeat(spaces) : ""
  return pad + v.replaceAll("\n", `\n${pad}`)
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
const b32chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// A strict decoder for Go's padded standard encodings (newlines ignored), with Go's error offsets.
const decodeStrict = (s: string, alphabet: string, bitsPer: number, block: number): Uint8Array | string => {
  const input = utf8(s)
  const out: Array<number> = []
  let acc = 0
  let nbits = 0
  let count = 0
  let i = 0
  const quantum = block
  let blockStart = 0
  for (; i < input.length; i++) {
    const c = input[i]!
    if (c === 0x0a || c === 0x0d) continue
    if (c === 0x3d) break
    const d = alphabet.indexOf(String.fromCharCode(c))
    if (d < 0) return `illegal ${bitsPer === 6 ? "base64" : "base32"} data at input byte ${i}`
    if (count % quantum === 0) blockStart = i
    acc = (acc << bitsPer) | d
    nbits += bitsPer
    count++
    if (nbits >= 8) {
      nbits -= 8
      out.push((acc >> nbits) & 0xff)
      acc &= (1 << nbits) - 1
    }
  }
  const rem = count % quantum
  if (i < input.length) {
    // padding
    let pads = 0
    let j = i
    for (; j < input.length; j++) {
      const c = input[j]!
      if (c === 0x0a || c === 0x0d) continue
      if (c !== 0x3d) return `illegal ${bitsPer === 6 ? "base64" : "base32"} data at input byte ${j}`
      pads++
    }
    const valid =
      bitsPer === 6
        ? (rem === 2 && pads === 2) || (rem === 3 && pads === 1)
        : rem + pads === 8 && [2, 4, 5, 7].includes(rem)
    if (!valid || rem === 0) return `illegal ${bitsPer === 6 ? "base64" : "base32"} data at input byte ${i}`
    return Uint8Array.from(out)
  }
  if (rem !== 0)
    return `illegal ${bitsPer === 6 ? "base64" : "base32"} data at input byte ${blockStart + rem <= input.length ? input.length : blockStart}`
  return Uint8Array.from(out)
}

const b64enc = (s: string): string => Buffer.from(utf8(s)).toString("base64")
const b64dec = (s: string): string => {
  const r = decodeStrict(s, b64chars, 6, 4)
  return typeof r === "string" ? r : fromUtf8(r)
}

const b32enc = (s: string): string => {
  const b = utf8(s)
  let out = ""
  for (let i = 0; i < b.length; i += 5) {
    const chunk = b.subarray(i, i + 5)
    let bits = 0n
    for (let j = 0; j < 5; j++) bits = (bits << 8n) | BigInt(chunk[j] ?? 0)
    const chars = Math.ceil((chunk.length * 8) / 5)
    for (let j = 0; j < 8; j++) {
      if (j < chars) out += b32chars[Number((bits >> BigInt(35 - j * 5)) & 31n)]
      else out += "="
    }
  }
  return out
}
const b32dec = (s: string): string => {
  const r = decodeStrict(s, b32chars, 5, 8)
  return typeof r === "string" ? r : fromUtf8(r)
}

const adler32 = (s: string): string => {
  let a = 1
  let b = 0
  for (const x of utf8(s)) {
    a = (a + x) % 65521
    b = (b + a) % 65521
  }
  return String(((b << 16) | a) >>> 0)
}

const hash =
  (alg: string) =>
  (s: string): string =>
    createHash(alg).update(utf8(s)).digest("hex")

const randomFrom = (count: number, chars: string): string => {
  if (count < 0) throw new GoError(`Requested random string length ${count} is less than 0.`)
  checkStringBytes(count)
  let out = ""
  for (let i = 0; i < count; i++) out += chars[randomInt(chars.length)]
  return out
}
const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
const digits = "0123456789"
let ascii = ""
for (let c = 32; c <= 126; c++) ascii += String.fromCharCode(c)

// ---------------------------------------------------------------------------------------------------------------
// Paths (Go's path package)

const cleanPath = (p: string): string => {
  if (p === "") return "."
  const rooted = p[0] === "/"
  const parts = p.split("/")
  const out: Array<string> = []
  for (const part of parts) {
    if (part === "" || part === ".") continue
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop()
      else if (!rooted) out.push("..")
      continue
    }
    out.push(part)
  }
  const joined = out.join("/")
  if (rooted) return `/${joined}`
  return joined === "" ? "." : joined
}

const basePath = (p: string): string => {
  if (p === "") return "."
  p = p.replace(/\/+$/, "")
  const i = p.lastIndexOf("/")
  if (i >= 0) p = p.slice(i + 1)
  return p === "" ? "/" : p
}

const dirPath = (p: string): string => {
  const i = p.lastIndexOf("/")
  return cleanPath(p.slice(0, i + 1))
}

const extPath = (p: string): string => {
  for (let i = p.length - 1; i >= 0 && p[i] !== "/"; i--) if (p[i] === ".") return p.slice(i)
  return ""
}

// ---------------------------------------------------------------------------------------------------------------
// Math

interface Dec {
  readonly v: bigint
  readonly e: number
}

const decFromFloat = (f: number): Dec => {
  if (!Number.isFinite(f)) throw new GoError(`Cannot create a Decimal from ${formatFloat(f, "g", -1)}`)
  if (f === 0) return { v: 0n, e: 0 }
  const s = formatFloat(f, "e", -1)
  const [mant, exp] = s.split("e") as [string, string]
  const d = mant.replace(".", "")
  const fracDigits = mant.includes(".") ? mant.length - mant.indexOf(".") - 1 : 0
  return { v: BigInt(d), e: Number(exp) - fracDigits }
}

const align = (a: Dec, b: Dec): [bigint, bigint, number] => {
  const e = Math.min(a.e, b.e)
  return [a.v * 10n ** BigInt(a.e - e), b.v * 10n ** BigInt(b.e - e), e]
}

const decAdd = (a: Dec, b: Dec): Dec => {
  const [x, y, e] = align(a, b)
  return { v: x + y, e }
}
const decSub = (a: Dec, b: Dec): Dec => {
  const [x, y, e] = align(a, b)
  return { v: x - y, e }
}
const decMul = (a: Dec, b: Dec): Dec => ({ v: a.v * b.v, e: a.e + b.e })
const decDiv = (a: Dec, b: Dec): Dec => {
  if (b.v === 0n) throw new GoError("decimal division by 0")
  const precision = 16
  // q = trunc(a / b) at 10^-precision; remainder decides rounding, half away from zero.
  const shift = a.e - b.e + precision
  let num = a.v
  let den = b.v
  if (shift >= 0) num *= 10n ** BigInt(shift)
  else den *= 10n ** BigInt(-shift)
  const q = num / den
  const r = num % den
  const abs = (x: bigint): bigint => (x < 0n ? -x : x)
  let result = q
  if (2n * abs(r) >= abs(den)) result += a.v < 0n !== b.v < 0n ? -1n : 1n
  return { v: result, e: -precision }
}
const decToFloat = (d: Dec): number => Number(`${d.v}e${d.e}`)

const decimalOp = (a: unknown, bs: ReadonlyArray<unknown>, op: (x: Dec, y: Dec) => Dec): number => {
  let r = decFromFloat(toFloat64(a))
  for (const b of bs) r = op(r, decFromFloat(toFloat64(b)))
  return decToFloat(r)
}

const untilStep = (start: number, stop: number, step: number): Array<number> => {
  const v: Array<number> = []
  if (step !== 0) checkElements(Math.ceil((stop - start) / step))
  if (stop < start) {
    if (step >= 0) return v
    for (let i = start; i > stop; i += step) v.push(i)
    return v
  }
  if (step <= 0) return v
  for (let i = start; i < stop; i += step) v.push(i)
  return v
}

const seq = (...params: Array<number>): string => {
  let increment = 1
  const join = (xs: Array<number>): string => xs.join(" ")
  switch (params.length) {
    case 0:
      return ""
    case 1: {
      const start = 1
      const end = params[0]!
      if (end < start) increment = -1
      return join(untilStep(start, end + increment, increment))
    }
    case 3: {
      const start = params[0]!
      const end = params[2]!
      const step = params[1]!
      if (end < start) {
        increment = -1
        if (step > 0) return ""
      }
      return join(untilStep(start, end + increment, step))
    }
    case 2: {
      const start = params[0]!
      const end = params[1]!
      const step = end < start ? -1 : 1
      return join(untilStep(start, end + step, step))
    }
    default:
      return ""
  }
}

const round = (a: unknown, p: number, ...rOpt: Array<number>): number => {
  const roundOn = rOpt.length > 0 ? rOpt[0]! : 0.5
  const val = toFloat64(a)
  const pow = 10 ** p
  const digit = pow * val
  const div = digit - Math.trunc(digit)
  const r = div >= roundOn ? Math.ceil(digit) : Math.floor(digit)
  return r / pow
}

const wrapInt64 = (x: bigint): bigint => BigInt.asIntN(64, x)

const intDiv = (a: bigint, b: bigint, op: "div" | "mod"): bigint => {
  if (b === 0n) throw new GoError("runtime error: integer divide by zero")
  return op === "div" ? wrapInt64(a / b) : a % b
}

// Sprig's max and min keep the first of equal values; bigints have no Math.max.
const bigMax = (x: bigint, y: bigint): bigint => {
  if (y > x) return y
  return x
}
const bigMin = (x: bigint, y: bigint): bigint => {
  if (y < x) return y
  return x
}

const goMax = (a: number, b: number): number => {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.NaN
  if (a === 0 && b === 0) return Object.is(a, -0) ? b : a
  return Math.max(a, b)
}
const goMin = (a: number, b: number): number => {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.NaN
  if (a === 0 && b === 0) return Object.is(a, -0) ? a : b
  return Math.min(a, b)
}

const atoi = (s: string): number => {
  if (!/^[+-]?[0-9]+$/.test(s)) return 0
  const v = parseInt64(s, 10)
  return v === undefined ? 0 : Number(v)
}

const toDecimal = (v: unknown): bigint => parseInt64(sprintf("%v", [v]), 8) ?? 0n

// ---------------------------------------------------------------------------------------------------------------
// Defaults, JSON, reflection

const dfault = (d: unknown, ...given: Array<unknown>): unknown => {
  if (given.length === 0 || empty(given[0])) return d
  return given[0]
}

const deepCopy = (v: unknown): unknown => {
  if (Array.isArray(v)) {
    const t = typeOf(v)!
    const c = v.map(deepCopy)
    return t.name === "[]interface {}" ? c : annotate(c, t)
  }
  if (v instanceof Map) {
    const t = typeOf(v)!
    const c = new Map<unknown, unknown>()
    for (const [k, x] of v) c.set(k, deepCopy(x))
    return t.name === "map[string]interface {}" ? c : annotate(c, t)
  }
  if (isPlainStruct(v)) {
    const t = typeOf(v)!
    const c: Record<string, unknown> = {}
    for (const f of structFields(v)) c[f] = deepCopy(v[f])
    return t.name.startsWith("struct {") ? c : annotate(c, t)
  }
  return v
}

const goKindName = (v: unknown): string => kindOf(v) ?? "invalid"

// ---------------------------------------------------------------------------------------------------------------
// Lists and dicts

const listOf = (v: unknown, what: string): ReadonlyArray<unknown> => {
  const items = listItems(v)
  if (items === undefined) throw new GoError(what.replace("%s", reflectKind(v)))
  return items
}

const push = (list: unknown, v: unknown): Array<unknown> => [...listOf(list, "Cannot push on type %s"), v]
const prepend = (list: unknown, v: unknown): Array<unknown> => [
  v,
  ...listOf(list, "Cannot prepend on type %s")
]
const chunk = (size: number, list: unknown): Array<unknown> => {
  const items = listOf(list, "Cannot chunk type %s")
  const l = items.length
  const cs = Math.floor((l - 1) / size) + 1
  const out: Array<unknown> = []
  for (let i = 0; i < cs; i++) {
    let clen = size
    if (i === cs - 1) {
      clen = Math.floor(l % size)
      if (clen === 0) clen = size
    }
    const c: Array<unknown> = []
    for (let j = 0; j < clen; j++) {
      const ix = i * size + j
      if (ix >= l || ix < 0) throw new GoError(`reflect: slice index out of range`)
      c.push(items[ix])
    }
    out.push(c)
  }
  return out
}
const last = (list: unknown): unknown => {
  const items = listOf(list, "Cannot find last on type %s")
  return items.length === 0 ? null : items[items.length - 1]
}
const first = (list: unknown): unknown => {
  const items = listOf(list, "Cannot find first on type %s")
  return items.length === 0 ? null : items[0]
}
const rest = (list: unknown): unknown => {
  const items = listOf(list, "Cannot find rest on type %s")
  return items.length === 0 ? nilOf(As) : items.slice(1)
}
const initial = (list: unknown): unknown => {
  const items = listOf(list, "Cannot find initial on type %s")
  return items.length === 0 ? nilOf(As) : items.slice(0, items.length - 1)
}
const reverse = (list: unknown): Array<unknown> =>
  [...listOf(list, "Cannot find reverse on type %s")].reverse()
const compact = (list: unknown): Array<unknown> =>
  listOf(list, "Cannot compact on type %s").filter((x) => !empty(x))
const uniq = (list: unknown): Array<unknown> => {
  // Sprig compares each element with those kept (reflect.DeepEqual); scalars are compared by type and value here,
  // so that a long list takes linear time, not quadratic.
  const out: Array<unknown> = []
  const seen = new Map<string, Set<unknown>>()
  const others: Array<unknown> = []
  for (const x of listOf(list, "Cannot find uniq on type %s")) {
    const key = scalarKey(x)
    if (key !== undefined) {
      let values = seen.get(key.type)
      if (values === undefined) {
        values = new Set()
        seen.set(key.type, values)
      }
      if (values.has(key.value)) continue
      values.add(key.value)
    } else if (others.some((y) => deepEqual(x, y))) continue
    else others.push(x)
    out.push(x)
  }
  return out
}

/**
 * A scalar's Go type name and a value that is the same (SameValueZero) for two scalars exactly when they are
 * deepEqual; undefined for anything else.
 */
const scalarKey = (x: unknown): { readonly type: string; readonly value: unknown } | undefined => {
  const t = typeOf(x)
  if (t === undefined) return { type: "nil", value: null }
  const k = t.kind
  if ((k === "string" && typeof x === "string") || (k === "bool" && typeof x === "boolean"))
    return { type: t.name, value: x }
  if (isIntKind(k) || isUintKind(k)) {
    if (typeof x === "number") return { type: t.name, value: x }
    const v = intOf(x)
    const safe = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    return { type: t.name, value: safe ? Number(v) : v }
  }
  if (isFloatKind(k)) {
    const f = floatOf(x)
    return Number.isNaN(f) ? undefined : { type: t.name, value: f }
  }
  return undefined
}
const without = (list: unknown, ...omit: Array<unknown>): Array<unknown> =>
  listOf(list, "Cannot find without on type %s").filter((x) => !omit.some((o) => deepEqual(x, o)))
const has = (needle: unknown, haystack: unknown): boolean => {
  if (haystack === null || haystack === undefined) return false
  return listOf(haystack, "Cannot find has on type %s").some((x) => deepEqual(needle, x))
}
const sliceList = (list: unknown, ...indices: Array<unknown>): unknown => {
  const k = reflectKind(list)
  if (k !== "slice" && k !== "array") throw new GoError(`list should be type of slice or array but ${k}`)
  const items = listItems(list)!
  const l = items.length
  if (l === 0) return null
  const start = indices.length > 0 ? Number(toInt(indices[0])) : 0
  const end = indices.length < 2 ? l : Number(toInt(indices[1]))
  if (start < 0 || end < start || end > l) throw new GoError("reflect.Value.Slice: slice index out of bounds")
  const out = items.slice(start, end)
  const t = typeOf(list)!
  return t.name === "[]interface {}" ? out : annotate(out, t.kind === "array" ? sliceOf(t.elem ?? A) : t)
}
const concat = (...lists: Array<unknown>): unknown => {
  let res: Array<unknown> = nilOf(As) as Array<unknown>
  for (const list of lists) {
    const items = listItems(list)
    if (items === undefined) throw new GoError(`Cannot concat type ${reflectKind(list)} as list`)
    res = [...res, ...items]
  }
  return res
}
const sortAlpha = (list: unknown): Array<string> => {
  const k = kindOf(list)
  if (k === "slice" || k === "array") return strslice(list).sort(compareStrings)
  return [strval(list)]
}

const mapGet = (d: Map<unknown, unknown>, key: string): unknown => (d.has(key) ? d.get(key) : "")

const dict = (...v: Array<unknown>): Map<unknown, unknown> => {
  const m = new Map<unknown, unknown>()
  for (let i = 0; i < v.length; i += 2) {
    const key = strval(v[i])
    m.set(key, i + 1 >= v.length ? "" : v[i + 1])
  }
  return m
}

const mergoEmpty = (v: unknown): boolean => {
  if (v === null || v === undefined) return true
  return empty(v)
}

const mergeInto = (dst: Map<unknown, unknown>, src: Map<unknown, unknown>, overwrite: boolean): void => {
  const srcEmpty = mergoEmpty(src)
  const dstEmptyAtStart = mergoEmpty(dst)
  for (const [key, sv] of src) {
    const hasD = dst.has(key)
    const dv = dst.get(key)
    if (sv === null || sv === undefined) {
      if (overwrite) dst.set(key, null)
      continue
    }
    const sk = kindOf(sv)
    if (sk === "map") {
      if (hasD && dv instanceof Map && sv instanceof Map) mergeInto(dv, sv, overwrite)
    } else if (sk === "slice") {
      let dstSlice: unknown = !hasD || dv === null || dv === undefined ? annotate([], typeOf(sv)!) : dv
      if (!srcEmpty && (overwrite || dstEmptyAtStart)) dstSlice = sv
      dst.set(key, dstSlice)
    }
    if (hasD && !mergoEmpty(dv) && (sk === "map" || sk === "slice")) continue
    if (overwrite || !hasD || mergoEmpty(dv)) dst.set(key, sv)
  }
}

const merge =
  (overwrite: boolean) =>
  (dst: Map<unknown, unknown>, ...srcs: Array<Map<unknown, unknown>>): unknown => {
    for (const src of srcs) mergeInto(dst, src, overwrite)
    return dst
  }

const assertionError = (v: unknown, want: string): GoError =>
  new GoError(
    v === null || v === undefined
      ? `interface conversion: interface {} is nil, not ${want}`
      : `interface conversion: interface {} is ${typeName(v)}, not ${want}`
  )

const dig = (...ps: Array<unknown>): unknown => {
  if (ps.length < 3) throw new GoError("dig needs at least three arguments")
  const d = ps[ps.length - 1]
  if (!(d instanceof Map) || typeName(d) !== "map[string]interface {}")
    throw assertionError(d, "map[string]interface {}")
  const def = ps[ps.length - 2]
  const ks = ps.slice(0, -2).map((k) => {
    if (typeof k !== "string") throw assertionError(k, "string")
    return k
  })
  let dict: Map<unknown, unknown> = d
  for (let i = 0; i < ks.length; i++) {
    const k = ks[i]!
    if (!dict.has(k)) return def
    const step = dict.get(k)
    if (i === ks.length - 1) return step
    if (!(step instanceof Map) || typeName(step) !== "map[string]interface {}")
      throw assertionError(step, "map[string]interface {}")
    dict = step
  }
  return def
}

// ---------------------------------------------------------------------------------------------------------------
// Dates

const timeOf = (date: unknown, allowInt32: boolean): GoTime => {
  if (date instanceof GoTime) return date
  const t = typeName(date)
  if (t === "int64" || t === "int" || (allowInt32 && t === "int32"))
    return GoTimeModule.unixLocal(intOf(date))
  return GoTimeModule.now()
}

const dateInZone = (fmt: string, date: unknown, zone: string): string => {
  const t = timeOf(date, true)
  const loc = time.loadLocation(zone) ?? time.UTC
  return time.format(t.unixSeconds, t.nanoseconds, loc, fmt)
}

const since = (t: GoTime): bigint => GoTimeModule.now().epochNanos - t.epochNanos

const roundDuration = (d: bigint, m: bigint): bigint => {
  if (m <= 0n) return d
  let r = d % m
  if (d < 0n) {
    r = -r
    return r + r < m ? d + r : d - m + r
  }
  return r + r < m ? d - r : d + m - r
}

const durationRound = (v: unknown): string => {
  let d = 0n
  const t = typeName(v)
  if (t === "string") {
    try {
      d = time.parseDuration(v as string)
    } catch {
      d = 0n
    }
  } else if (t === "int64") d = intOf(v)
  else if (v instanceof GoTime) d = since(v)
  let u = BigInt.asUintN(64, d)
  if (d < 0n) u = BigInt.asUintN(64, -d)
  const hour = 3600000000000n
  const year = hour * 24n * 365n
  const month = hour * 24n * 30n
  const day = hour * 24n
  const minute = 60000000000n
  const second = 1000000000n
  if (u > year) return `${u / year}y`
  if (u > month) return `${u / month}mo`
  if (u > day) return `${u / day}d`
  if (u > hour) return `${u / hour}h`
  if (u > minute) return `${u / minute}m`
  if (u > second) return `${u / second}s`
  return "0s"
}

const durationOf = (sec: unknown): string => {
  let n = 0n
  const t = typeName(sec)
  if (t === "string") n = parseInt64(sec as string, 10) ?? 0n
  else if (t === "int64") n = intOf(sec)
  return time.durationString(BigInt.asIntN(64, n * 1000000000n))
}

const toDate = (layout: string, value: string): GoTime => {
  const p = time.parse(layout, value, time.Local, time.Local)
  return GoTime.of(p.unixSec, p.nsec, p.loc)
}

// ---------------------------------------------------------------------------------------------------------------
// Environment

const expandEnv = (s: string): string => {
  const isSpecial = (c: string | undefined): boolean => c !== undefined && "*#$@!?-0123456789".includes(c)
  const isAlnum = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c)
  const getShellName = (t: string): [string, number] => {
    if (t[0] === "{") {
      if (t.length > 2 && isSpecial(t[1]) && t[2] === "}") return [t.slice(1, 2), 3]
      for (let i = 1; i < t.length; i++) {
        if (t[i] === "}") {
          if (i === 1) return ["", 2]
          return [t.slice(1, i), i + 1]
        }
      }
      return ["", 1]
    }
    if (isSpecial(t[0])) return [t.slice(0, 1), 1]
    let i = 0
    while (i < t.length && isAlnum(t[i])) i++
    return [t.slice(0, i), i]
  }
  let buf: string | undefined
  let i = 0
  for (let j = 0; j < s.length; j++) {
    if (s[j] === "$" && j + 1 < s.length) {
      buf = (buf ?? "") + s.slice(i, j)
      const [name, w] = getShellName(s.slice(j + 1))
      if (name === "" && w > 0) {
        // invalid syntax: eat it
      } else if (name === "") buf += "$"
      else buf += process.env[name] ?? ""
      j += w
      i = j + 1
    }
  }
  return buf === undefined ? s : buf + s.slice(i)
}

// ---------------------------------------------------------------------------------------------------------------
// The map

const mustRegex = <R>(f: () => R): R => f()
const softRegex = <R>(f: () => R, fallback: R): R => {
  try {
    return f()
  } catch {
    return fallback
  }
}
const panicRegex = (expr: string, f: () => unknown): unknown => {
  try {
    compile(expr)
  } catch (e) {
    const q = canBackquote(expr) ? `\`${expr}\`` : goQuote(expr)
    throw new GoError(`regexp: Compile(${q}): ${(e as Error).message}`)
  }
  return f()
}

const dateModify = (fmt: string, date: GoTime): GoTime => {
  try {
    return date.add(time.parseDuration(fmt))
  } catch {
    return date
  }
}

const definitions: ReadonlyArray<GoFunc> = [
  // dates
  fn("ago", [A], S, (d: unknown) => time.durationString(roundDuration(since(timeOf(d, false)), 1000000000n))),
  fn("date", [S, A], S, (f: string, d: unknown) => dateInZone(f, d, "Local")),
  fn("date_in_zone", [S, A, S], S, dateInZone),
  fn("date_modify", [S, Time], Time, dateModify),
  fn("dateInZone", [S, A, S], S, dateInZone),
  fn("dateModify", [S, Time], Time, dateModify),
  fn("duration", [A], S, durationOf),
  fn("durationRound", [A], S, durationRound),
  fn("htmlDate", [A], S, (d: unknown) => dateInZone("2006-01-02", d, "Local")),
  fn("htmlDateInZone", [A, S], S, (d: unknown, z: string) => dateInZone("2006-01-02", d, z)),
  fn("must_date_modify", [S, Time], Time, (f: string, d: GoTime) => d.add(time.parseDuration(f))),
  fn("mustDateModify", [S, Time], Time, (f: string, d: GoTime) => d.add(time.parseDuration(f))),
  fn("mustToDate", [S, S], Time, toDate),
  fn("now", [], Time, () => GoTimeModule.now()),
  fn("toDate", [S, S], Time, (f: string, s: string) => {
    try {
      return toDate(f, s)
    } catch {
      return GoTimeModule.zero
    }
  }),
  fn("unixEpoch", [Time], S, (d: GoTime) => String(d.unixSeconds)),

  // strings
  fn("hello", [], S, () => "Hello!"),
  fn("abbrev", [I, S], S, abbrev),
  fn("abbrevboth", [I, I, S], S, abbrevboth),
  fn("trunc", [I, S], S, trunc),
  fn("trim", [S], S, trimSpace),
  fn("upper", [S], S, toUpper),
  fn("lower", [S], S, toLower),
  fn("title", [S], S, title),
  fn("untitle", [S], S, untitle),
  fn("substr", [I, I, S], S, substr),
  fn("repeat", [I, S], S, repeat),
  fn("trimall", [S, S], S, (a: string, b: string) => trimCutset(b, a)),
  fn("trimAll", [S, S], S, (a: string, b: string) => trimCutset(b, a)),
  fn("trimSuffix", [S, S], S, (a: string, b: string) =>
    a !== "" && b.endsWith(a) ? b.slice(0, b.length - a.length) : b
  ),
  fn("trimPrefix", [S, S], S, (a: string, b: string) =>
    a !== "" && b.startsWith(a) ? b.slice(a.length) : b
  ),
  fn("nospace", [S], S, nospace),
  fn("initials", [S], S, initials),
  fn("randAlphaNum", [I], S, (n: number) => randomFrom(n, alpha + digits)),
  fn("randAlpha", [I], S, (n: number) => randomFrom(n, alpha)),
  fn("randAscii", [I], S, (n: number) => randomFrom(n, ascii)),
  fn("randNumeric", [I], S, (n: number) => randomFrom(n, digits)),
  fn("swapcase", [S], S, swapcase),
  fn("shuffle", [S], S, shuffle),
  fn("snakecase", [S], S, (s: string) => camelCaseToLowerCase(s, "_")),
  fn("camelcase", [S], S, camelcase),
  fn("kebabcase", [S], S, (s: string) => camelCaseToLowerCase(s, "-")),
  fn("wrap", [I, S], S, (l: number, s: string) => wrapCustom(s, l, "", false)),
  fn("wrapWith", [I, S, S], S, (l: number, sep: string, s: string) => wrapCustom(s, l, sep, true)),
  fn("contains", [S, S], B, (sub: string, s: string) => s.includes(sub)),
  fn("hasPrefix", [S, S], B, (sub: string, s: string) => s.startsWith(sub)),
  fn("hasSuffix", [S, S], B, (sub: string, s: string) => s.endsWith(sub)),
  fn("quote", [As], S, quoteAll, true),
  fn("squote", [As], S, squoteAll, true),
  fn("cat", [As], S, cat, true),
  fn("indent", [I, S], S, indent),
  fn("nindent", [I, S], S, (n: number, v: string) => `\n${indent(n, v)}`),
  fn("replace", [S, S, S], S, (o: string, n: string, s: string) => {
    if (n.length > o.length) {
      // Refuse an output over the string limit before building it.
      const count = o === "" ? runeCount(s) + 1 : pieces(s, o, -1) - 1
      checkStringBytes(byteLength(s) + count * (byteLength(n) - byteLength(o)))
    }
    return o === "" ? replaceEmpty(s, n) : s.replaceAll(o, n)
  }),
  fn("plural", [S, S, I], S, (one: string, many: string, count: number) => (count === 1 ? one : many)),
  fn("sha1sum", [S], S, hash("sha1")),
  fn("sha256sum", [S], S, hash("sha256")),
  fn("adler32sum", [S], S, adler32),
  fn("toString", [A], S, strval),

  // conversions and math
  fn("atoi", [S], I, atoi),
  fn("int64", [A], I64, toInt64),
  fn("int", [A], I, toInt),
  fn("float64", [A], F, toFloat64),
  fn("seq", [Is], S, seq, true),
  fn("toDecimal", [A], I64, toDecimal),
  fn("split", [S, S], MS, (sep: string, s: string) => indexMap(splitN(s, sep, -1))),
  fn("splitList", [S, S], Ss, (sep: string, s: string) => splitN(s, sep, -1)),
  fn("splitn", [S, I, S], MS, (sep: string, n: number, s: string) => indexMap(splitN(s, sep, n))),
  fn("toStrings", [A], Ss, strslice),
  fn("until", [I], Is, (count: number) => untilStep(0, count, count < 0 ? -1 : 1)),
  fn("untilStep", [I, I, I], Is, untilStep),
  fn("add1", [A], I64, (i: unknown) => wrapInt64(toInt64(i) + 1n)),
  fn(
    "add",
    [As],
    I64,
    (...xs: Array<unknown>) => xs.reduce<bigint>((a, b) => wrapInt64(a + toInt64(b)), 0n),
    true
  ),
  fn("sub", [A, A], I64, (a: unknown, b: unknown) => wrapInt64(toInt64(a) - toInt64(b))),
  fn("div", [A, A], I64, (a: unknown, b: unknown) => intDiv(toInt64(a), toInt64(b), "div")),
  fn("mod", [A, A], I64, (a: unknown, b: unknown) => intDiv(toInt64(a), toInt64(b), "mod")),
  fn(
    "mul",
    [A, As],
    I64,
    (a: unknown, ...v: Array<unknown>) => v.reduce<bigint>((x, b) => wrapInt64(x * toInt64(b)), toInt64(a)),
    true
  ),
  fn("randInt", [I, I], I, (min: number, max: number) => {
    if (max - min <= 0) throw new GoError("invalid argument to Intn")
    return randomInt(max - min) + min
  }),
  fn("add1f", [A], F, (i: unknown) => decimalOp(i, [1], decAdd)),
  fn("addf", [As], F, (...i: Array<unknown>) => decimalOp(0, i, decAdd), true),
  fn("subf", [A, As], F, (a: unknown, ...v: Array<unknown>) => decimalOp(a, v, decSub), true),
  fn("divf", [A, As], F, (a: unknown, ...v: Array<unknown>) => decimalOp(a, v, decDiv), true),
  fn("mulf", [A, As], F, (a: unknown, ...v: Array<unknown>) => decimalOp(a, v, decMul), true),
  fn(
    "biggest",
    [A, As],
    I64,
    (a: unknown, ...i: Array<unknown>) => i.map(toInt64).reduce(bigMax, toInt64(a)),
    true
  ),
  fn(
    "max",
    [A, As],
    I64,
    (a: unknown, ...i: Array<unknown>) => i.map(toInt64).reduce(bigMax, toInt64(a)),
    true
  ),
  fn(
    "min",
    [A, As],
    I64,
    (a: unknown, ...i: Array<unknown>) => i.map(toInt64).reduce(bigMin, toInt64(a)),
    true
  ),
  fn(
    "maxf",
    [A, As],
    F,
    (a: unknown, ...i: Array<unknown>) => i.map(toFloat64).reduce(goMax, toFloat64(a)),
    true
  ),
  fn(
    "minf",
    [A, As],
    F,
    (a: unknown, ...i: Array<unknown>) => i.map(toFloat64).reduce(goMin, toFloat64(a)),
    true
  ),
  fn("ceil", [A], F, (a: unknown) => Math.ceil(toFloat64(a))),
  fn("floor", [A], F, (a: unknown) => Math.floor(toFloat64(a))),
  fn("round", [A, I, sliceOf(F)], F, round, true),

  // lists, defaults, JSON
  fn("join", [S, A], S, (sep: string, v: unknown) => {
    const parts = strslice(v)
    // The UTF-16 length is at most the UTF-8 one: refuse before joining what is sure to pass the string limit.
    let length = parts.length > 0 ? (parts.length - 1) * sep.length : 0
    for (const part of parts) length += part.length
    checkStringBytes(length)
    return parts.join(sep)
  }),
  fn("sortAlpha", [A], Ss, sortAlpha),
  fn("default", [A, As], A, dfault, true),
  fn("empty", [A], B, empty),
  fn("coalesce", [As], A, (...v: Array<unknown>) => v.find((x) => !empty(x)) ?? null, true),
  fn("all", [As], B, (...v: Array<unknown>) => v.every((x) => !empty(x)), true),
  fn("any", [As], B, (...v: Array<unknown>) => v.some((x) => !empty(x)), true),
  fn("compact", [A], As, compact),
  fn("mustCompact", [A], As, compact),
  fn("fromJson", [S], A, (s: string) => softRegex(() => unmarshal(s), null)),
  fn("mustFromJson", [S], A, unmarshal),
  fn("toJson", [A], S, (v: unknown) => softRegex(() => marshal(v), "")),
  fn("toPrettyJson", [A], S, (v: unknown) => softRegex(() => marshalIndent(v, "", "  "), "")),
  fn("toRawJson", [A], S, marshalRaw),
  fn("mustToJson", [A], S, marshal),
  fn("mustToPrettyJson", [A], S, (v: unknown) => marshalIndent(v, "", "  ")),
  fn("mustToRawJson", [A], S, marshalRaw),
  fn("ternary", [A, A, B], A, (vt: unknown, vf: unknown, v: boolean) => (v ? vt : vf)),
  fn("deepCopy", [A], A, deepCopy),
  fn("mustDeepCopy", [A], A, deepCopy),

  // reflection
  fn("typeOf", [A], S, typeName),
  fn("typeIs", [S, A], B, (target: string, src: unknown) => target === typeName(src)),
  fn("typeIsLike", [S, A], B, (target: string, src: unknown) => {
    const t = typeName(src)
    return target === t || `*${target}` === t
  }),
  fn("kindOf", [A], S, goKindName),
  fn("kindIs", [S, A], B, (target: string, src: unknown) => target === goKindName(src)),
  fn("deepEqual", [A, A], B, deepEqual),

  // OS, paths, encodings
  fn("env", [S], S, (k: string) => process.env[k] ?? ""),
  fn("expandenv", [S], S, expandEnv),
  fn("base", [S], S, basePath),
  fn("dir", [S], S, dirPath),
  fn("clean", [S], S, cleanPath),
  fn("ext", [S], S, extPath),
  fn("isAbs", [S], B, (p: string) => p.startsWith("/")),
  fn("osBase", [S], S, basePath),
  fn("osClean", [S], S, cleanPath),
  fn("osDir", [S], S, dirPath),
  fn("osExt", [S], S, extPath),
  fn("osIsAbs", [S], B, (p: string) => p.startsWith("/")),
  fn("b64enc", [S], S, b64enc),
  fn("b64dec", [S], S, b64dec),
  fn("b32enc", [S], S, b32enc),
  fn("b32dec", [S], S, b32dec),

  // lists and dicts
  fn("tuple", [As], As, (...v: Array<unknown>) => v, true),
  fn("list", [As], As, (...v: Array<unknown>) => v, true),
  fn("dict", [As], M, dict, true),
  fn("get", [M, S], A, mapGet),
  fn("set", [M, S, A], M, (d: Map<unknown, unknown>, k: string, v: unknown) => d.set(k, v)),
  fn("unset", [M, S], M, (d: Map<unknown, unknown>, k: string) => {
    d.delete(k)
    return d
  }),
  fn("hasKey", [M, S], B, (d: Map<unknown, unknown>, k: string) => d.has(k)),
  fn(
    "pluck",
    [S, Ms],
    As,
    (k: string, ...ds: Array<Map<unknown, unknown>>) => ds.filter((d) => d.has(k)).map((d) => d.get(k)),
    true
  ),
  fn(
    "keys",
    [Ms],
    Ss,
    (...ds: Array<Map<unknown, unknown>>) => ds.flatMap((d) => sortedEntries(d).map(([k]) => k)),
    true
  ),
  fn(
    "pick",
    [M, Ss],
    M,
    (d: Map<unknown, unknown>, ...ks: Array<string>) =>
      new Map(ks.filter((k) => d.has(k)).map((k) => [k, d.get(k)])),
    true
  ),
  fn(
    "omit",
    [M, Ss],
    M,
    (d: Map<unknown, unknown>, ...ks: Array<string>) =>
      new Map([...d].filter(([k]) => !ks.includes(k as string))),
    true
  ),
  fn("merge", [M, Ms], A, merge(false), true),
  fn("mergeOverwrite", [M, Ms], A, merge(true), true),
  fn("mustMerge", [M, Ms], A, merge(false), true),
  fn("mustMergeOverwrite", [M, Ms], A, merge(true), true),
  fn("values", [M], As, (d: Map<unknown, unknown>) => sortedEntries(d).map(([, v]) => v)),
  fn("append", [A, A], As, push),
  fn("push", [A, A], As, push),
  fn("mustAppend", [A, A], As, push),
  fn("mustPush", [A, A], As, push),
  fn("prepend", [A, A], As, prepend),
  fn("mustPrepend", [A, A], As, prepend),
  fn("first", [A], A, first),
  fn("mustFirst", [A], A, first),
  fn("rest", [A], As, rest),
  fn("mustRest", [A], As, rest),
  fn("last", [A], A, last),
  fn("mustLast", [A], A, last),
  fn("initial", [A], As, initial),
  fn("mustInitial", [A], As, initial),
  fn("reverse", [A], As, reverse),
  fn("mustReverse", [A], As, reverse),
  fn("uniq", [A], As, uniq),
  fn("mustUniq", [A], As, uniq),
  fn("without", [A, As], As, without, true),
  fn("mustWithout", [A, As], As, without, true),
  fn("has", [A, A], B, has),
  fn("mustHas", [A, A], B, has),
  fn("slice", [A, As], A, sliceList, true),
  fn("mustSlice", [A, As], A, sliceList, true),
  fn("concat", [As], A, concat, true),
  fn("dig", [As], A, dig, true),
  fn("chunk", [I, A], Ass, chunk),
  fn("mustChunk", [I, A], Ass, chunk),

  // crypto and ids
  fn("randBytes", [I], S, (n: number) => {
    if (n < 0) throw new GoError("runtime error: makeslice: len out of range")
    checkStringBytes(Math.ceil(n / 3) * 4)
    return randomBytes(n).toString("base64")
  }),
  fn("uuidv4", [], S, () => randomUUID()),

  // semver
  fn("semver", [S], versionType, semverParse),
  fn("semverCompare", [S, S], B, semverCompare),

  // flow
  fn("fail", [S], S, (msg: string) => {
    throw new GoError(msg)
  }),

  // regular expressions
  fn("regexMatch", [S, S], B, (re: string, s: string) => softRegex(() => compile(re).matchString(s), false)),
  fn("mustRegexMatch", [S, S], B, (re: string, s: string) => mustRegex(() => compile(re).matchString(s))),
  fn("regexFindAll", [S, S, I], Ss, (re: string, s: string, n: number) =>
    panicRegex(re, () => compile(re).findAllString(s, n))
  ),
  fn("mustRegexFindAll", [S, S, I], Ss, (re: string, s: string, n: number) =>
    compile(re).findAllString(s, n)
  ),
  fn("regexFind", [S, S], S, (re: string, s: string) => panicRegex(re, () => compile(re).findString(s))),
  fn("mustRegexFind", [S, S], S, (re: string, s: string) => compile(re).findString(s)),
  fn("regexReplaceAll", [S, S, S], S, (re: string, s: string, r: string) =>
    panicRegex(re, () => compile(re).replaceAllString(s, r))
  ),
  fn("mustRegexReplaceAll", [S, S, S], S, (re: string, s: string, r: string) =>
    compile(re).replaceAllString(s, r)
  ),
  fn("regexReplaceAllLiteral", [S, S, S], S, (re: string, s: string, r: string) =>
    panicRegex(re, () => compile(re).replaceAllLiteralString(s, r))
  ),
  fn("mustRegexReplaceAllLiteral", [S, S, S], S, (re: string, s: string, r: string) =>
    compile(re).replaceAllLiteralString(s, r)
  ),
  fn("regexSplit", [S, S, I], Ss, (re: string, s: string, n: number) =>
    panicRegex(re, () => compile(re).split(s, n))
  ),
  fn("mustRegexSplit", [S, S, I], Ss, (re: string, s: string, n: number) => compile(re).split(s, n)),
  fn("regexQuoteMeta", [S], S, quoteMeta),

  // URLs
  fn("urlParse", [S], M, (v: string) => {
    let u: GoURL
    try {
      u = parseURL(v)
    } catch (e) {
      throw new GoError(`unable to parse url: ${(e as Error).message}`)
    }
    return new Map<unknown, unknown>([
      ["scheme", u.scheme],
      ["host", u.host],
      ["hostname", hostname(u)],
      ["path", u.path],
      ["query", u.rawQuery],
      ["opaque", u.opaque],
      ["fragment", u.fragment],
      ["userinfo", userinfo(u)]
    ])
  }),
  fn("urlJoin", [M], S, (d: Map<unknown, unknown>) => {
    const get = (key: string): string => {
      if (!d.has(key)) return ""
      const v = d.get(key)
      const k = kindOf(v)
      if (k === undefined) throw nilDeref()
      if (k !== "string")
        throw new GoError(`unable to parse ${key} key, must be of type string, but ${k} found`)
      return v as string
    }
    const parts = {
      scheme: get("scheme"),
      host: get("host"),
      path: get("path"),
      rawQuery: get("query"),
      opaque: get("opaque"),
      fragment: get("fragment"),
      userinfo: ""
    }
    const ui = get("userinfo")
    try {
      return buildURL({ ...parts, userinfo: ui })
    } catch (e) {
      throw new GoError(`unable to parse userinfo in dict: ${(e as Error).message}`)
    }
  })
]

// strings.Replace with an empty old string: the new string before every rune and at the end.
const replaceEmpty = (s: string, n: string): string => {
  let out = n
  for (const ch of s) out += ch + n
  return out
}

/** Sprig's functions, by name. */
export const sprigFunctions: ReadonlyMap<string, GoFunc> = new Map(definitions.map((f) => [f.name, f]))

/** Sprig functions nth does not implement: a template naming one is refused when parsed. */
export const unimplemented: ReadonlySet<string> = new Set([
  "bcrypt",
  "htpasswd",
  "genPrivateKey",
  "derivePassword",
  "buildCustomCert",
  "genCA",
  "genCAWithKey",
  "genSelfSignedCert",
  "genSelfSignedCertWithKey",
  "genSignedCert",
  "genSignedCertWithKey",
  "encryptAES",
  "decryptAES",
  "getHostByName"
])
