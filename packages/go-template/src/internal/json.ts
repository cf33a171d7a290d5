/**
 * Go's encoding/json over the engine's values: `json.Marshal` (HTML-escaped), `MarshalIndent`, an Encoder without
 * HTML escaping, and `json.Unmarshal` into `interface{}`.
 *
 * @internal
 */
import { formatFloat } from "./strconv.ts"
import {
  compareKeys,
  floatOf,
  GoError,
  intOf,
  isEmptyValue,
  isFloatKind,
  isIntKind,
  isNilValue,
  isPlainStruct,
  isUintKind,
  makeNumber,
  methodOf,
  structFields,
  T,
  typeOf
} from "./values.ts"

const hex = "0123456789abcdef"

/** Go's JSON string encoding. */
export const quoteJson = (s: string, escapeHTML: boolean): string => {
  let out = '"'
  for (const ch of s) {
    const r = ch.codePointAt(0)!
    if (r < 0x80) {
      if (
        r >= 0x20 &&
        ch !== '"' &&
        ch !== "\\" &&
        (!escapeHTML || (ch !== "<" && ch !== ">" && ch !== "&"))
      ) {
        out += ch
        continue
      }
      switch (ch) {
        case "\\":
        case '"':
          out += `\\${ch}`
          continue
        case "\b":
          out += "\\b"
          continue
        case "\f":
          out += "\\f"
          continue
        case "\n":
          out += "\\n"
          continue
        case "\r":
          out += "\\r"
          continue
        case "\t":
          out += "\\t"
          continue
      }
      out += `\\u00${hex[r >> 4]}${hex[r & 0xf]}`
      continue
    }
    if (r >= 0xd800 && r <= 0xdfff) {
      out += "\\ufffd"
      continue
    }
    if (r === 0x2028 || r === 0x2029) {
      out += `\\u202${hex[r & 0xf]}`
      continue
    }
    out += ch
  }
  return `${out}"`
}

const floatJson = (f: number, bits: 32 | 64): string => {
  if (!Number.isFinite(f)) throw new GoError(`json: unsupported value: ${formatFloat(f, "g", -1, bits)}`)
  const abs = Math.abs(f)
  let fmt = "f"
  if (abs !== 0) {
    if ((bits === 64 && (abs < 1e-6 || abs >= 1e21)) || (bits === 32 && (abs < 1e-6 || abs >= 1e21)))
      fmt = "e"
  }
  let b = formatFloat(f, fmt, -1, bits)
  if (fmt === "e") {
    const n = b.length
    if (n >= 4 && b[n - 4] === "e" && b[n - 3] === "-" && b[n - 2] === "0") b = b.slice(0, n - 2) + b[n - 1]
  }
  return b
}

interface JsonField {
  readonly name: string
  readonly value: unknown
  readonly omitEmpty: boolean
  readonly tagged: boolean
  readonly index: ReadonlyArray<number>
}

const isExported = (name: string): boolean => /^\p{Lu}/u.test(name)

const compareIndex = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

// Go's encoding/json typeFields: a struct's fields, embedded structs' fields inlined, the shallowest (or the
// only tagged one) winning a name, in field order.
const jsonFields = (v: unknown): Array<JsonField> => {
  const all: Array<JsonField> = []
  let level: Array<{ value: unknown; index: ReadonlyArray<number> }> = [{ value: v, index: [] }]
  const seen = new Set<string>()
  while (level.length > 0) {
    const next: typeof level = []
    for (const { value, index } of level) {
      const t = typeOf(value)
      if (t?.kind !== "struct") continue
      if (seen.has(t.name) && index.length > 0) continue
      seen.add(t.name)
      const o = value as Record<string, unknown>
      const fields = t.fields ?? (isPlainStruct(value) ? structFields(o) : [])
      fields.forEach((f, i) => {
        const tag = t.jsonTags?.get(f)
        if (tag === "-") return
        const [tagName = "", ...opts] = (tag ?? "").split(",")
        const embedded = t.embedded?.has(f) === true
        if (embedded && tagName === "" && typeOf(o[f])?.kind === "struct") {
          next.push({ value: o[f], index: [...index, i] })
          return
        }
        if (!isExported(f)) return
        all.push({
          name: tagName === "" ? f : tagName,
          value: o[f],
          omitEmpty: opts.includes("omitempty"),
          tagged: tagName !== "",
          index: [...index, i]
        })
      })
    }
    level = next
  }
  const byName = new Map<string, Array<JsonField>>()
  for (const f of all) byName.set(f.name, [...(byName.get(f.name) ?? []), f])
  const out: Array<JsonField> = []
  for (const group of byName.values()) {
    if (group.length === 1) {
      out.push(group[0]!)
      continue
    }
    const depth = Math.min(...group.map((f) => f.index.length))
    const shallow = group.filter((f) => f.index.length === depth)
    if (shallow.length === 1) out.push(shallow[0]!)
    else {
      const tagged = shallow.filter((f) => f.tagged)
      if (tagged.length === 1) out.push(tagged[0]!)
    }
  }
  return out.sort((a, b) => compareIndex(a.index, b.index))
}

const isEmptyJson = (v: unknown): boolean => isEmptyValue(v, (k) => k === "interface" || k === "ptr")

const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64")

const encode = (v: unknown, escapeHTML: boolean): string => {
  const t = typeOf(v)
  if (t === undefined || isNilValue(v)) return "null"
  const marshal = methodOf(v, "MarshalJSON")
  if (marshal !== undefined) {
    const raw = marshal.call()
    const text = raw instanceof Uint8Array ? new TextDecoder().decode(raw) : String(raw)
    // Go compacts (and HTML-escapes) what a Marshaler returns.
    return escapeHTML
      ? text.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
      : text
  }
  const k = t.kind
  if (k === "bool") return v ? "true" : "false"
  if (isIntKind(k) || isUintKind(k)) return String(intOf(v))
  if (isFloatKind(k)) return floatJson(floatOf(v), k === "float32" ? 32 : 64)
  switch (k) {
    case "string":
      return quoteJson(v as string, escapeHTML)
    case "slice":
    case "array": {
      if (v instanceof Uint8Array) return `"${base64(v)}"`
      if (t.elem?.kind === "uint8")
        return `"${base64(Uint8Array.from((v as Array<unknown>).map((x) => Number(intOf(x)))))}"`
      return `[${(v as Array<unknown>).map((x) => encode(x, escapeHTML)).join(",")}]`
    }
    case "map": {
      const m = v as ReadonlyMap<unknown, unknown>
      const keyKind = t.key?.kind ?? "string"
      if (keyKind !== "string" && !isIntKind(keyKind) && !isUintKind(keyKind))
        throw new GoError(`json: unsupported type: ${t.name}`)
      const entries = [...m.entries()].map(
        ([key, value]) => [typeof key === "string" ? key : String(intOf(key)), value] as const
      )
      entries.sort((a, b) => compareKeys(a[0], b[0]))
      return `{${entries.map(([key, value]) => `${quoteJson(key, escapeHTML)}:${encode(value, escapeHTML)}`).join(",")}}`
    }
    case "struct": {
      const parts: Array<string> = []
      for (const f of jsonFields(v)) {
        if (f.omitEmpty && isEmptyJson(f.value)) continue
        parts.push(`${quoteJson(f.name, escapeHTML)}:${encode(f.value, escapeHTML)}`)
      }
      return `{${parts.join(",")}}`
    }
    case "interface":
    case "ptr":
      return "null"
    default:
      throw new GoError(`json: unsupported type: ${t.name}`)
  }
}

// Go's json.Indent over compact output.
const indent = (compact: string, prefix: string, ind: string): string => {
  let out = ""
  let depth = 0
  let inString = false
  let needIndent = false
  const newline = (): string => `\n${prefix}${ind.repeat(depth)}`
  for (let i = 0; i < compact.length; i++) {
    const c = compact[i]!
    if (inString) {
      out += c
      if (c === "\\") {
        out += compact[i + 1]
        i++
      } else if (c === '"') inString = false
      continue
    }
    if (needIndent && c !== "]" && c !== "}") {
      needIndent = false
      depth++
      out += newline()
    }
    switch (c) {
      case '"':
        inString = true
        out += c
        break
      case "{":
      case "[":
        out += c
        needIndent = true
        break
      case ",":
        out += c
        out += newline()
        break
      case ":":
        out += ": "
        break
      case "}":
      case "]":
        if (needIndent) {
          needIndent = false
        } else {
          depth--
          out += newline()
        }
        out += c
        break
      default:
        out += c
    }
  }
  return out
}

/** Go's `json.Marshal`. */
export const marshal = (v: unknown): string => encode(v, true)

/** Go's `json.MarshalIndent(v, prefix, indent)`. */
export const marshalIndent = (v: unknown, prefix: string, ind: string): string =>
  indent(encode(v, true), prefix, ind)

/** A json.Encoder with HTML escaping off (without the trailing newline). */
export const marshalRaw = (v: unknown): string => encode(v, false)

/** Go's `json.Unmarshal` into `interface{}`: objects become maps, numbers float64. */
export const unmarshal = (text: string): unknown => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new GoError(jsonErrorMessage(text, e as Error))
  }
  const convert = (x: unknown): unknown => {
    if (x === null) return null
    if (Array.isArray(x)) return x.map(convert)
    if (typeof x === "number") return makeNumber(T.float64, x)
    if (typeof x === "object") {
      const m = new Map<string, unknown>()
      for (const [k, val] of Object.entries(x as Record<string, unknown>)) m.set(k, convert(val))
      return m
    }
    return x
  }
  return convert(parsed)
}

// Go's JSON scanner, for its syntax error messages.
const jsonErrorMessage = (text: string, _e: Error): string => {
  let i = 0
  const n = text.length
  const fail = (context: string): never => {
    // At the end of the input Go's scanner steps over a space.
    throw new GoError(`invalid character ${quoteChar(text[i] ?? " ")} ${context}`)
  }
  const eof = (): never => {
    throw new GoError("unexpected end of JSON input")
  }
  const space = (): void => {
    while (i < n && " \t\r\n".includes(text[i]!)) i++
  }
  const literal = (word: string): void => {
    for (let j = 1; j < word.length; j++) {
      i++
      if (text[i] !== word[j]) fail(`in literal ${word} (expecting ${quoteChar(word[j]!)})`)
    }
    i++
  }
  const digits = (): number => {
    const s = i
    while (i < n && text[i]! >= "0" && text[i]! <= "9") i++
    return i - s
  }
  const number = (): void => {
    if (text[i] === "-") {
      i++
      if (!(text[i]! >= "0" && text[i]! <= "9")) fail("in numeric literal")
    }
    if (text[i] === "0") i++
    else digits()
    if (text[i] === ".") {
      i++
      if (digits() === 0) fail("after decimal point in numeric literal")
    }
    if (text[i] === "e" || text[i] === "E") {
      i++
      if (text[i] === "+" || text[i] === "-") i++
      if (digits() === 0) fail("in exponent of numeric literal")
    }
  }
  const string = (): void => {
    i++
    for (;;) {
      if (i >= n) eof()
      const c = text[i]!
      if (c === '"') {
        i++
        return
      }
      if (c === "\\") {
        i++
        if (i >= n) eof()
        const e = text[i]!
        if ('"\\/bfnrt'.includes(e)) i++
        else if (e === "u") {
          i++
          for (let k = 0; k < 4; k++) {
            if (i >= n) eof()
            if (!/[0-9a-fA-F]/.test(text[i]!)) fail("in \\u hexadecimal character escape")
            i++
          }
        } else fail("in string escape code")
        continue
      }
      if (c < " ") fail("in string literal")
      i++
    }
  }
  // The next character after spaces (the end of the input is an error).
  const peek = (): string => {
    space()
    if (i >= n) eof()
    return text[i]!
  }
  // Steps over the closing bracket `close` if it comes next (after spaces), saying whether it did.
  const closes = (close: string): boolean => {
    if (peek() !== close) return false
    i++
    return true
  }
  // After an object's or array's element: a comma (false: another element follows) or `close` (true).
  const endOfElement = (close: string, context: string): boolean => {
    if (closes(close)) return true
    if (text[i] !== ",") fail(context)
    i++
    return false
  }
  const value = (): void => {
    const c = peek()
    if (c === "{") {
      i++
      if (closes("}")) return
      do {
        if (peek() !== '"') fail("looking for beginning of object key string")
        string()
        if (peek() !== ":") fail("after object key")
        i++
        value()
      } while (!endOfElement("}", "after object key:value pair"))
      return
    }
    if (c === "[") {
      i++
      if (closes("]")) return
      do {
        value()
      } while (!endOfElement("]", "after array element"))
      return
    }
    if (c === '"') string()
    else if (c === "-" || (c >= "0" && c <= "9")) number()
    else if (c === "t") literal("true")
    else if (c === "f") literal("false")
    else if (c === "n") literal("null")
    else fail("looking for beginning of value")
  }
  try {
    value()
    space()
    if (i < n) fail("after top-level value")
  } catch (e) {
    return (e as Error).message
  }
  return "unexpected end of JSON input"
}

const quoteChar = (c: string): string => {
  if (c === "'") return "'\\''"
  if (c === '"') return "'\"'"
  const q = JSON.stringify(c)
  return `'${q.slice(1, -1)}'`
}
