/**
 * Go's regexp on top of re2js, a JavaScript port of RE2/J (itself a port of Go's regexp): the same RE2 syntax, the
 * same leftmost-first semantics, and matching in time linear in the input (no backtracking blow-up, whatever the
 * expression). This module adds Go's match iteration, replacement expansion and splitting, on JavaScript strings:
 * positions are UTF-16 indices, and an empty match advances by one character (code point), as Go's advances by one
 * rune.
 *
 * @internal
 */
import { RE2JS, RE2JSException } from "re2js"
import { checkElements, checkStringBytes, maxElements, maxStringBytes } from "./limits.ts"
import { GoError } from "./values.ts"

/** A match: the text of the whole match and of each group (`undefined` for a group that did not take part). */
export interface GoMatch extends Array<string | undefined> {
  0: string
  /** Where the match starts in the input (a UTF-16 index). */
  index: number
}

/** The part of re2js's `RE2` (Go's `regexp.Regexp`) used here; re2js types it loosely. */
interface Engine {
  /** `[matched, [start0, end0, start1, end1, …]]`, positions -1 for a group that did not take part. */
  matchWithGroup(
    input: string,
    start: number,
    end: number,
    anchor: number,
    ngroup: number
  ): [boolean, ReadonlyArray<number> | null]
  numberOfCapturingGroups(): number
  readonly namedGroups: Readonly<Record<string, number>>
}

const UNANCHORED = 0

const duplicateName = "error parsing regexp: duplicate capture group name"

/** re2js's compiled expression, or the GoError Go's regexp.Compile gives. */
const compileEngine = (expr: string): Engine | GoError => {
  try {
    return RE2JS.compile(expr).re2() as unknown as Engine
  } catch (e) {
    // re2js's syntax errors are Go's: `error parsing regexp: missing closing ): \`(\``.
    if (e instanceof RE2JSException) return new GoError(e.message)
    return new GoError(`error parsing regexp: ${e instanceof Error ? e.message : String(e)}: \`${expr}\``)
  }
}

const captureName = /^[A-Za-z0-9_]+$/

/**
 * Renames every named group `(?P<name>` / `(?<name>` to `(?P<{marker}{k}_name>`, unique, with a marker found nowhere
 * in the expression (so that removing it restores the original text). Skips escapes, `\Q…\E` and classes, as Go's
 * parser does.
 */
const renameGroups = (
  expr: string
): { readonly expr: string; readonly marker: RegExp; readonly original: (name: string) => string } => {
  let prefix = "nth_dup"
  while (expr.includes(prefix)) prefix += "x"
  let out = ""
  let k = 0
  let i = 0
  const n = expr.length
  while (i < n) {
    const c = expr[i]!
    if (c === "\\") {
      if (expr[i + 1] === "Q") {
        const end = expr.indexOf("\\E", i + 2)
        const stop = end < 0 ? n : end + 2
        out += expr.slice(i, stop)
        i = stop
      } else {
        out += expr.slice(i, i + 2)
        i += 2
      }
    } else if (c === "[") {
      // A class: a "]" right after "[" or "[^" is literal; "[:name:]" is a named class; escapes skip a character.
      let j = i + 1
      if (expr[j] === "^") j++
      if (expr[j] === "]") j++
      while (j < n && expr[j] !== "]") {
        if (expr[j] === "\\") j += 2
        else if (expr[j] === "[" && expr[j + 1] === ":" && expr.indexOf(":]", j + 2) >= 0)
          j = expr.indexOf(":]", j + 2) + 2
        else j++
      }
      out += expr.slice(i, j + 1)
      i = j + 1
    } else if (c === "(" && (expr.startsWith("(?P<", i) || expr.startsWith("(?<", i))) {
      const start = i + (expr[i + 2] === "P" ? 4 : 3)
      const end = expr.indexOf(">", start)
      const name = end < 0 ? "" : expr.slice(start, end)
      if (captureName.test(name)) {
        out += `${expr.slice(i, start)}${prefix}${k++}_${name}>`
        i = end + 1
      } else {
        out += expr.slice(i, start)
        i = start
      }
    } else {
      out += c
      i++
    }
  }
  const marker = new RegExp(`${prefix}\\d+_`, "g")
  return { expr: out, marker, original: (name) => name.replace(marker, "") }
}

/** A compiled Go regular expression. */
export class GoRegexp {
  readonly expr: string
  private readonly engine: Engine
  private readonly ngroup: number
  /** Each group name's groups, in order. */
  private readonly names: ReadonlyMap<string, ReadonlyArray<number>>

  constructor(expr: string) {
    this.expr = expr
    let compiled = compileEngine(expr)
    if (compiled instanceof GoError && compiled.message.startsWith(duplicateName)) {
      // Go allows two groups of one name (Expand uses the first that matched); re2js does not: compile with the
      // names made unique, and map them back.
      const renamed = renameGroups(expr)
      compiled = compileEngine(renamed.expr)
      if (compiled instanceof GoError) throw new GoError(compiled.message.replaceAll(renamed.marker, ""))
      this.engine = compiled
      const names = new Map<string, Array<number>>()
      for (const [name, index] of Object.entries(compiled.namedGroups).sort(([, a], [, b]) => a - b)) {
        const original = renamed.original(name)
        names.set(original, [...(names.get(original) ?? []), index])
      }
      this.names = names
    } else {
      if (compiled instanceof GoError) throw compiled
      this.engine = compiled
      this.names = new Map(Object.entries(compiled.namedGroups).map(([name, index]) => [name, [index]]))
    }
    this.ngroup = 1 + this.engine.numberOfCapturingGroups()
  }

  /** The leftmost-first match starting the search at `pos` (a UTF-16 index), or null. */
  execAt(s: string, pos: number): GoMatch | null {
    const [matched, groups] = this.engine.matchWithGroup(s, pos, s.length, UNANCHORED, this.ngroup)
    if (!matched || groups === null) return null
    const m = [] as unknown as GoMatch
    for (let g = 0; g < this.ngroup; g++) {
      const start = groups[2 * g] ?? -1
      const end = groups[2 * g + 1] ?? -1
      m[g] = start < 0 || end < 0 ? undefined : s.slice(start, end)
    }
    m.index = groups[0]!
    return m
  }

  /** Go's `allMatches` (`FindAllStringSubmatch`-style iteration): up to n matches (n < 0: all). */
  allMatches(s: string, n: number): Array<GoMatch> {
    const out: Array<GoMatch> = []
    const end = s.length
    let prevMatchEnd = -1
    for (let pos = 0; (n < 0 || out.length < n) && pos <= end; ) {
      const m = this.execAt(s, pos)
      if (m === null) break
      const mEnd = m.index + m[0].length
      let accept = true
      if (mEnd === pos) {
        // An empty match: none right after the previous match; then move on by one character.
        if (m.index === prevMatchEnd) accept = false
        pos += pos < end ? String.fromCodePoint(s.codePointAt(pos)!).length : 1
      } else pos = mEnd
      prevMatchEnd = mEnd
      if (accept) {
        if (out.length === maxElements) checkElements(out.length + 1)
        out.push(m)
      }
    }
    return out
  }

  matchString(s: string): boolean {
    return this.engine.matchWithGroup(s, 0, s.length, UNANCHORED, 0)[0]
  }

  findString(s: string): string {
    return this.execAt(s, 0)?.[0] ?? ""
  }

  findAllString(s: string, n: number): Array<string> | null {
    const all = this.allMatches(s, n)
    return all.length === 0 ? null : all.map((m) => m[0])
  }

  // Go's Regexp.replaceAll.
  private replaceAll(src: string, repl: (m: GoMatch) => string): string {
    let out = ""
    let lastMatchEnd = 0
    let searchPos = 0
    while (searchPos <= src.length) {
      const a = this.execAt(src, searchPos)
      if (a === null) break
      const aEnd = a.index + a[0].length
      out += src.slice(lastMatchEnd, a.index)
      if (aEnd > lastMatchEnd || a.index === 0) out += repl(a)
      // The UTF-16 length is at most the UTF-8 one.
      if (out.length > maxStringBytes) checkStringBytes(out.length)
      lastMatchEnd = aEnd
      const width = searchPos < src.length ? String.fromCodePoint(src.codePointAt(searchPos)!).length : 0
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
  expand(template: string, m: GoMatch): string {
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
        if (ex.num < m.length) out += m[ex.num] ?? ""
      } else {
        // The first group of that name that took part in the match.
        const idx = this.names.get(ex.name)?.find((i) => m[i] !== undefined)
        if (idx !== undefined) out += m[idx]
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
