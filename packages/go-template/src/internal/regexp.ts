/**
 * Go's regexp (RE2 syntax) on top of JavaScript's RegExp: a translator from Go's syntax to JavaScript's (with
 * the `u` flag), and Go's match iteration, replacement expansion and splitting.
 *
 * @internal
 */
import { GoError } from "./values.ts"

const posixClasses: Record<string, string> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\x00-\\x7F",
  blank: "\\t ",
  cntrl: "\\x00-\\x1F\\x7F",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f"
}

const perlClasses: Record<string, string> = {
  d: "0-9",
  s: "\\t\\n\\f\\r ",
  w: "0-9A-Za-z_"
}

const categories = new Set([
  "C",
  "Cc",
  "Cf",
  "Co",
  "Cs",
  "L",
  "Ll",
  "Lm",
  "Lo",
  "Lt",
  "Lu",
  "M",
  "Mc",
  "Me",
  "Mn",
  "N",
  "Nd",
  "Nl",
  "No",
  "P",
  "Pc",
  "Pd",
  "Pe",
  "Pf",
  "Pi",
  "Po",
  "Ps",
  "S",
  "Sc",
  "Sk",
  "Sm",
  "So",
  "Z",
  "Zl",
  "Zp",
  "Zs"
])

const jsSyntax = "^$\\.*+?()[]{}|/"

const syntaxError = (code: string, arg: string): GoError =>
  new GoError(`error parsing regexp: ${code}: \`${arg}\``)

const unicodeClass = (name: string, negated: boolean): string => {
  const n = name === "Any" ? "Any" : categories.has(name) ? name : `Script=${name}`
  if (name === "Any") return negated ? "[^\\s\\S]" : "[\\s\\S]"
  return `\\${negated ? "P" : "p"}{${n}}`
}

const hexEscape = (cp: number): string => `\\u{${cp.toString(16)}}`

interface Translated {
  readonly source: string
  readonly flags: string
  readonly names: ReadonlyArray<string>
}

/** Translates a Go regular expression into a JavaScript one; throws a GoError with Go's wording when invalid. */
export const translate = (pattern: string): Translated => {
  let out = ""
  let i = 0
  const names: Array<string> = [""]
  // Stack of groups: how many extra ")" to close at the group's end (for mid-group flag changes).
  const groups: Array<number> = [0]
  let flagI = false
  let flagM = false
  let flagS = false
  const n = pattern.length

  const readEscape = (inClass: boolean): string => {
    // at pattern[i] === "\\"
    const c = pattern[i + 1]
    if (c === undefined) throw syntaxError("trailing backslash at end of expression", "")
    i += 2
    switch (c) {
      case "a":
        return "\\x07"
      case "f":
        return "\\f"
      case "n":
        return "\\n"
      case "r":
        return "\\r"
      case "t":
        return "\\t"
      case "v":
        return "\\v"
      case "d":
      case "s":
      case "w":
        return inClass ? perlClasses[c]! : `[${perlClasses[c]}]`
      case "D":
      case "S":
      case "W": {
        const body = perlClasses[c.toLowerCase()]!
        if (inClass) throw syntaxError("invalid character class range", `\\${c}`)
        return `[^${body}]`
      }
      case "p":
      case "P": {
        let name: string
        if (pattern[i] === "{") {
          const end = pattern.indexOf("}", i)
          if (end < 0) throw syntaxError("invalid character class range", pattern.slice(i - 2))
          name = pattern.slice(i + 1, end)
          i = end + 1
        } else {
          name = pattern[i] ?? ""
          i++
        }
        let neg = c === "P"
        if (name.startsWith("^")) {
          neg = !neg
          name = name.slice(1)
        }
        return unicodeClass(name, neg)
      }
      case "x": {
        if (pattern[i] === "{") {
          const end = pattern.indexOf("}", i)
          if (end < 0) throw syntaxError("invalid escape sequence", pattern.slice(i - 2))
          const cp = Number.parseInt(pattern.slice(i + 1, end), 16)
          i = end + 1
          return hexEscape(cp)
        }
        const h = pattern.slice(i, i + 2)
        if (!/^[0-9a-fA-F]{2}$/.test(h)) throw syntaxError("invalid escape sequence", `\\x${h}`)
        i += 2
        return hexEscape(Number.parseInt(h, 16))
      }
      case "Q": {
        const end = pattern.indexOf("\\E", i)
        const lit = end < 0 ? pattern.slice(i) : pattern.slice(i, end)
        i = end < 0 ? n : end + 2
        return [...lit].map((ch) => (jsSyntax.includes(ch) || ch === "-" ? `\\${ch}` : ch)).join("")
      }
      case "A":
        if (inClass) throw syntaxError("invalid escape sequence", "\\A")
        return "(?<![\\s\\S])"
      case "z":
        if (inClass) throw syntaxError("invalid escape sequence", "\\z")
        return "(?![\\s\\S])"
      case "b":
      case "B":
        if (inClass) throw syntaxError("invalid escape sequence", `\\${c}`)
        return `\\${c}`
    }
    if (c >= "0" && c <= "7") {
      // Octal: \0, \12, \123 (Go does not have backreferences).
      if (c !== "0" && !(pattern[i]! >= "0" && pattern[i]! <= "7"))
        throw syntaxError("invalid escape sequence", `\\${c}`)
      let digits = c
      while (digits.length < 3 && pattern[i]! >= "0" && pattern[i]! <= "7") digits += pattern[i++]
      return hexEscape(Number.parseInt(digits, 8))
    }
    const cp = c.codePointAt(0)!
    if (cp < 0x80 && !/[0-9A-Za-z]/.test(c)) {
      // Escaped punctuation.
      if (jsSyntax.includes(c) || (inClass && c === "-")) return `\\${c}`
      return c
    }
    throw syntaxError("invalid escape sequence", `\\${c}`)
  }

  const readClass = (): string => {
    // at "["
    const start = i
    i++
    let body = ""
    let negated = false
    if (pattern[i] === "^") {
      negated = true
      i++
    }
    let first = true
    for (;;) {
      if (i >= n) throw syntaxError("missing closing ]", pattern.slice(start))
      const c = pattern[i]!
      if (c === "]" && !first) {
        i++
        break
      }
      first = false
      if (c === "[" && pattern[i + 1] === ":") {
        const end = pattern.indexOf(":]", i + 2)
        if (end >= 0) {
          let name = pattern.slice(i + 2, end)
          let neg = false
          if (name.startsWith("^")) {
            neg = true
            name = name.slice(1)
          }
          const cls = posixClasses[name]
          if (cls === undefined) throw syntaxError("invalid character class range", pattern.slice(i, end + 2))
          if (neg) {
            if (body === "" && !negated && pattern[end + 2] === "]") {
              negated = true
              body = cls
              i = end + 2
              continue
            }
            throw syntaxError("unsupported negated class", pattern.slice(i, end + 2))
          }
          body += cls
          i = end + 2
          continue
        }
      }
      if (c === "\\") {
        const e = pattern[i + 1]
        if (e === "p" || e === "P" || e === "d" || e === "s" || e === "w") {
          body += readEscape(true)
          continue
        }
        body += readEscape(true)
        continue
      }
      const cp = pattern.codePointAt(i)!
      const ch = String.fromCodePoint(cp)
      i += ch.length
      if (ch === "[" || ch === "]" || ch === "\\" || ch === "^") body += `\\${ch}`
      else if (ch === "-") {
        // a range dash, or a literal one at the edges
        body += pattern[i] === "]" || body === "" ? "\\-" : "-"
      } else body += ch
    }
    return `[${negated ? "^" : ""}${body}]`
  }

  while (i < n) {
    const c = pattern[i]!
    switch (c) {
      case "\\":
        out += readEscape(false)
        continue
      case "[":
        out += readClass()
        continue
      case "(": {
        if (pattern[i + 1] === "?") {
          const rest = pattern.slice(i + 2)
          const named = /^P?<([A-Za-z0-9_]+)>/.exec(rest)
          if (named !== null) {
            names.push(named[1]!)
            out += `(?<${named[1]}>`
            i += 2 + named[0].length
            groups.push(0)
            continue
          }
          const flags = /^([imsU]*)(?:-([imsU]*))?([:)])/.exec(rest)
          if (flags === null) throw syntaxError("invalid or unsupported Perl syntax", pattern.slice(i, i + 3))
          const on = flags[1] ?? ""
          const off = flags[2] ?? ""
          if (on.includes("U") || off.includes("U"))
            throw syntaxError("invalid or unsupported Perl syntax", pattern.slice(i, i + 3))
          i += 2 + flags[0].length
          if (flags[3] === ":") {
            out += on === "" && off === "" ? "(?:" : `(?${on}${off === "" ? "" : `-${off}`}:`
            groups.push(0)
            continue
          }
          // (?flags) applies to the rest of the enclosing group.
          if (out === "" && groups.length === 1) {
            if (on.includes("i")) flagI = true
            if (on.includes("m")) flagM = true
            if (on.includes("s")) flagS = true
            if (off.includes("i")) flagI = false
            if (off.includes("m")) flagM = false
            if (off.includes("s")) flagS = false
            continue
          }
          out += `(?${on}${off === "" ? "" : `-${off}`}:`
          groups[groups.length - 1]!++
          continue
        }
        names.push("")
        groups.push(0)
        out += "("
        i++
        continue
      }
      case ")": {
        if (groups.length === 1) throw syntaxError("unexpected )", pattern)
        const extra = groups.pop()!
        out += ")".repeat(extra + 1)
        i++
        continue
      }
      case "|": {
        // Alternation ends any mid-group flag scopes in this branch.
        const extra = groups[groups.length - 1]!
        out += `${")".repeat(extra)}|`
        groups[groups.length - 1] = 0
        i++
        continue
      }
      case "{": {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i))
        if (m !== null) {
          const min = Number(m[1])
          const max = m[3] === undefined || m[3] === "" ? min : Number(m[3])
          if (min > 1000 || max > 1000 || (m[3] !== undefined && m[3] !== "" && max < min))
            throw syntaxError("invalid repeat count", m[0])
          if (out === "" || /[|(]$/.test(out))
            throw syntaxError("missing argument to repetition operator", m[0])
          out += m[0]
          i += m[0].length
          if (pattern[i] === "?") {
            out += "?"
            i++
          }
          continue
        }
        out += "\\{"
        i++
        continue
      }
      case "}":
        out += "\\}"
        i++
        continue
      case "]":
        out += "\\]"
        i++
        continue
      case "*":
      case "+":
      case "?": {
        if (out === "" || /(?:^|[|(]|\(\?[a-z-]*:|\(\?<[A-Za-z0-9_]+>)$/.test(out))
          throw syntaxError("missing argument to repetition operator", c)
        if (/[*+?]$/.test(out) && !/\\[*+?]$/.test(out) && !(c === "?" && !/[*+?]\?$/.test(out)))
          throw syntaxError("invalid nested repetition operator", pattern.slice(i - 1, i + 1))
        out += c
        i++
        continue
      }
      case "/":
        out += "\\/"
        i++
        continue
      default: {
        const cp = pattern.codePointAt(i)!
        const ch = String.fromCodePoint(cp)
        out += ch
        i += ch.length
      }
    }
  }
  if (groups.length > 1) throw syntaxError("missing closing )", pattern)
  out += ")".repeat(groups[0]!)
  return { source: out, flags: `gu${flagI ? "i" : ""}${flagM ? "m" : ""}${flagS ? "s" : ""}`, names }
}

/** A compiled Go regular expression. */
export class GoRegexp {
  readonly expr: string
  readonly re: RegExp
  readonly names: ReadonlyArray<string>

  constructor(expr: string) {
    this.expr = expr
    const t = translate(expr)
    try {
      this.re = new RegExp(t.source, t.flags)
    } catch (e) {
      throw new GoError(`error parsing regexp: ${(e as Error).message}: \`${expr}\``)
    }
    this.names = t.names
  }

  /** The match starting the search at `pos`, or null. */
  execAt(s: string, pos: number): RegExpExecArray | null {
    this.re.lastIndex = pos
    return this.re.exec(s)
  }

  /** Go's `FindAllStringIndex`-style iteration: up to n matches (n < 0: all). */
  allMatches(s: string, n: number): Array<RegExpExecArray> {
    const out: Array<RegExpExecArray> = []
    const end = s.length
    let prevMatchEnd = -1
    for (let pos = 0; (n < 0 || out.length < n) && pos <= end; ) {
      const m = this.execAt(s, pos)
      if (m === null) break
      const mEnd = m.index + m[0].length
      let accept = true
      if (mEnd === pos) {
        if (m.index === prevMatchEnd) accept = false
        pos += pos < end ? String.fromCodePoint(s.codePointAt(pos)!).length : 1
      } else pos = mEnd
      prevMatchEnd = mEnd
      if (accept) out.push(m)
    }
    return out
  }

  matchString(s: string): boolean {
    return this.execAt(s, 0) !== null
  }

  findString(s: string): string {
    return this.execAt(s, 0)?.[0] ?? ""
  }

  findAllString(s: string, n: number): Array<string> | null {
    const all = this.allMatches(s, n)
    return all.length === 0 ? null : all.map((m) => m[0])
  }

  private replaceAll(src: string, repl: (m: RegExpExecArray) => string): string {
    let out = ""
    let lastMatchEnd = 0
    let searchPos = 0
    while (searchPos <= src.length) {
      const a = this.execAt(src, searchPos)
      if (a === null) break
      const aEnd = a.index + a[0].length
      out += src.slice(lastMatchEnd, a.index)
      if (aEnd > lastMatchEnd || a.index === 0) out += repl(a)
      lastMatchEnd = aEnd
      const width = searchPos < src.length ? String.fromCodePoint(src.codePointAt(searchPos)!).length : 1
      if (searchPos + width > aEnd) searchPos += width
      else if (searchPos + 1 > aEnd) searchPos++
      else searchPos = aEnd
    }
    return out + src.slice(lastMatchEnd)
  }

  replaceAllString(src: string, template: string): string {
    return this.replaceAll(src, (m) => this.expand(template, m))
  }

  replaceAllLiteralString(src: string, repl: string): string {
    return this.replaceAll(src, () => repl)
  }

  // Go's Regexp.Expand.
  expand(template: string, m: RegExpExecArray): string {
    let out = ""
    while (template.length > 0) {
      const k = template.indexOf("$")
      if (k < 0) break
      out += template.slice(0, k)
      template = template.slice(k + 1)
      if (template.startsWith("$")) {
        out += "$"
        template = template.slice(1)
        continue
      }
      const ex = extractName(template)
      if (ex === undefined) {
        out += "$"
        continue
      }
      template = ex.rest
      if (ex.num >= 0) {
        const g = m[ex.num]
        if (ex.num < m.length && g !== undefined) out += g
      } else {
        const idx = this.names.indexOf(ex.name)
        if (idx > 0) {
          const g = m[idx]
          if (g !== undefined) out += g
        }
      }
    }
    return out + template
  }

  split(s: string, n: number): Array<string> | null {
    if (n === 0) return null
    if (this.expr.length > 0 && s.length === 0) return [""]
    const matches = this.allMatches(s, n)
    const strings: Array<string> = []
    let beg = 0
    let end = 0
    for (const m of matches) {
      if (n > 0 && strings.length === n - 1) break
      end = m.index
      const mEnd = m.index + m[0].length
      if (mEnd !== 0) strings.push(s.slice(beg, end))
      beg = mEnd
    }
    if (end !== s.length) strings.push(s.slice(beg))
    return strings
  }
}

const extractName = (t: string): { name: string; num: number; rest: string } | undefined => {
  if (t.length < 1) return undefined
  let brace = false
  if (t[0] === "{") {
    brace = true
    t = t.slice(1)
  }
  let i = 0
  while (i < t.length) {
    const cp = t.codePointAt(i)!
    const ch = String.fromCodePoint(cp)
    if (!/^[\p{L}\p{Nd}_]$/u.test(ch)) break
    i += ch.length
  }
  if (i === 0) return undefined
  const name = t.slice(0, i)
  if (brace) {
    if (i >= t.length || t[i] !== "}") return undefined
    i++
  }
  let num = 0
  for (const ch of name) {
    if (ch < "0" || ch > "9" || num >= 1e8) {
      num = -1
      break
    }
    num = num * 10 + (ch.charCodeAt(0) - 48)
  }
  if (name[0] === "0" && name.length > 1) num = -1
  return { name, num, rest: t.slice(i) }
}

/** Go's `regexp.QuoteMeta`. */
export const quoteMeta = (s: string): string => s.replace(/[\\.+*?()|[\]{}^$]/g, (c) => `\\${c}`)

const cache = new Map<string, GoRegexp>()

/** Compiles (and caches) a Go regular expression; throws a GoError when invalid. */
export const compile = (expr: string): GoRegexp => {
  let re = cache.get(expr)
  if (re === undefined) {
    re = new GoRegexp(expr)
    if (cache.size > 500) cache.clear()
    cache.set(expr, re)
  }
  return re
}
