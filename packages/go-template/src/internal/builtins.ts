/**
 * text/template's builtin functions: and, or, not, len, index, slice, print, printf, println, html, js,
 * urlquery, eq, ne, lt, le, gt, ge, call.
 *
 * `and`, `or` and `call` are special-cased by the executor; their entries here carry the signatures.
 *
 * @internal
 */
import { sprint, sprintf, sprintln } from "./fmt.ts"
import { isPrint, utf8 } from "./strconv.ts"
import {
  canBeNil,
  deepEqual,
  floatOf,
  GoError,
  type GoFunc,
  type GoType,
  intOf,
  isComplexKind,
  isFloatKind,
  isIntKind,
  isTrue,
  isUintKind,
  lengthOf,
  makeNumber,
  sliceOf,
  T,
  typeOf,
  zeroOf
} from "./values.ts"

/** Declares a Go function. */
export const fn = (
  name: string,
  params: ReadonlyArray<GoType>,
  result: GoType,
  call: (...args: Array<never>) => unknown,
  variadic = false
): GoFunc => ({ name, params, result, variadic, call: call as (...args: Array<unknown>) => unknown })

const rv = T.reflectValue
const rvs = sliceOf(rv)
const anys = sliceOf(T.any)

type BasicKind = "invalid" | "bool" | "complex" | "int" | "float" | "string" | "uint"

const basicKind = (v: unknown): BasicKind => {
  const k = typeOf(v)?.kind
  if (k === "bool") return "bool"
  if (isIntKind(k)) return "int"
  if (isUintKind(k)) return "uint"
  if (isFloatKind(k)) return "float"
  if (isComplexKind(k)) return "complex"
  if (k === "string") return "string"
  return "invalid"
}

const tname = (v: unknown): string => typeOf(v)?.name ?? "<nil>"

const isComparable = (t: GoType | undefined): boolean =>
  t !== undefined && t.kind !== "slice" && t.kind !== "map" && t.kind !== "func"

const eq = (arg1: unknown, ...arg2: Array<unknown>): boolean => {
  if (arg2.length === 0) throw new GoError("missing argument for comparison")
  const k1 = basicKind(arg1)
  for (const arg of arg2) {
    const k2 = basicKind(arg)
    let truth = false
    if (k1 !== k2) {
      if (k1 === "int" && k2 === "uint") truth = intOf(arg1) >= 0n && intOf(arg1) === intOf(arg)
      else if (k1 === "uint" && k2 === "int") truth = intOf(arg) >= 0n && intOf(arg1) === intOf(arg)
      else if (arg1 !== undefined && arg1 !== null && arg !== undefined && arg !== null)
        throw new GoError(`incompatible types for comparison: ${tname(arg1)} and ${tname(arg)}`)
    } else {
      switch (k1) {
        case "bool":
        case "string":
          truth = arg1 === arg
          break
        case "complex":
          truth = deepEqual(arg1, arg)
          break
        case "float":
          truth = floatOf(arg1) === floatOf(arg)
          break
        case "int":
        case "uint":
          truth = intOf(arg1) === intOf(arg)
          break
        default: {
          const n1 = arg1 === undefined || arg1 === null
          const n2 = arg === undefined || arg === null
          const t1 = typeOf(arg1)
          const t2 = typeOf(arg)
          if (!n1 && !n2 && t1?.kind !== t2?.kind)
            throw new GoError(
              `non-comparable types ${sprintf("%s", [arg1])}: ${tname(arg1)}, ${tname(arg)}: ${sprintf("%v", [arg])}`
            )
          if (n1 || n2) truth = n1 === n2
          else {
            if (!isComparable(t2))
              throw new GoError(`non-comparable type ${sprintf("%s", [arg])}: ${tname(arg)}`)
            truth = t1?.name === t2?.name && deepEqual(arg1, arg)
          }
        }
      }
    }
    if (truth) return true
  }
  return false
}

const lt = (arg1: unknown, arg2: unknown): boolean => {
  const k1 = basicKind(arg1)
  if (k1 === "invalid") throw new GoError("invalid type for comparison")
  const k2 = basicKind(arg2)
  if (k2 === "invalid") throw new GoError("invalid type for comparison")
  if (k1 !== k2) {
    if (k1 === "int" && k2 === "uint") return intOf(arg1) < 0n || intOf(arg1) < intOf(arg2)
    if (k1 === "uint" && k2 === "int") return intOf(arg2) >= 0n && intOf(arg1) < intOf(arg2)
    throw new GoError(`incompatible types for comparison: ${tname(arg1)} and ${tname(arg2)}`)
  }
  switch (k1) {
    case "bool":
    case "complex":
      throw new GoError("invalid type for comparison")
    case "float":
      return floatOf(arg1) < floatOf(arg2)
    case "int":
    case "uint":
      return intOf(arg1) < intOf(arg2)
    default:
      return byteLess(arg1 as string, arg2 as string)
  }
}

const byteLess = (a: string, b: string): boolean => {
  const x = utf8(a)
  const y = utf8(b)
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! < y[i]!
  return x.length < y.length
}

const le = (a: unknown, b: unknown): boolean => lt(a, b) || eq(a, b)

const indexArg = (index: unknown, cap: number): number => {
  const k = typeOf(index)?.kind
  let x: bigint
  if (isIntKind(k) || isUintKind(k)) x = intOf(index)
  else if (index === undefined || index === null) throw new GoError("cannot index slice/array with nil")
  else throw new GoError(`cannot index slice/array with type ${tname(index)}`)
  if (x < 0n || x > BigInt(cap)) throw new GoError(`index out of range: ${x}`)
  return Number(x)
}

const prepareArg = (value: unknown, argType: GoType): unknown => {
  if (value === undefined || value === null) {
    if (!canBeNil(argType)) throw new GoError(`value is nil; should be of type ${argType.name}`)
    return zeroOf(argType)
  }
  const t = typeOf(value)!
  if (argType.kind === "interface" || t.name === argType.name) return value
  if ((isIntKind(t.kind) || isUintKind(t.kind)) && (isIntKind(argType.kind) || isUintKind(argType.kind)))
    return makeNumber(argType, intOf(value))
  throw new GoError(`value has type ${t.name}; should be ${argType.name}`)
}

const index = (item: unknown, ...indexes: Array<unknown>): unknown => {
  if (item === undefined || item === null) throw new GoError("index of untyped nil")
  for (const ix of indexes) {
    if (item === undefined || item === null) throw new GoError("index of nil pointer")
    const t = typeOf(item)!
    switch (t.kind) {
      case "slice":
      case "array": {
        const items = item as ReadonlyArray<unknown>
        const x = indexArg(ix, items.length)
        if (x === items.length) throw new GoError(`index out of range: ${x}`)
        item = items[x]
        break
      }
      case "string": {
        const bytes = utf8(item as string)
        const x = indexArg(ix, bytes.length)
        if (x === bytes.length) throw new GoError(`index out of range: ${x}`)
        item = makeNumber(T.uint8, bytes[x]!)
        break
      }
      case "map": {
        const key = prepareArg(ix, t.key ?? T.string)
        const m = item as ReadonlyMap<unknown, unknown>
        let found: unknown
        let has = false
        for (const [k, v] of m) {
          if (k === key || deepEqual(k, key)) {
            found = v
            has = true
            break
          }
        }
        item = has ? found : zeroOf(t.elem ?? T.any)
        break
      }
      default:
        throw new GoError(`can't index item of type ${t.name}`)
    }
  }
  return item
}

const length = (item: unknown): number => {
  if (item === undefined || item === null)
    throw new GoError("reflect: call of reflect.Value.Type on zero Value")
  const k = typeOf(item)!.kind
  if (k === "array" || k === "chan" || k === "map" || k === "slice" || k === "string") return lengthOf(item)
  throw new GoError(`len of type ${tname(item)}`)
}

// printableValue + fmt.Sprint, as html, js and urlquery format their arguments.
const evalArgs = (args: ReadonlyArray<unknown>): string => {
  if (args.length === 1 && typeof args[0] === "string") return args[0]
  return sprint(args.map((a) => (a === undefined || a === null ? "<no value>" : a)))
}

/** Go's `template.HTMLEscapeString`. */
export const htmlEscape = (s: string): string =>
  s.replace(/[\0"'&<>]/g, (c) =>
    c === "\0"
      ? "\uFFFD"
      : c === '"'
        ? "&#34;"
        : c === "'"
          ? "&#39;"
          : c === "&"
            ? "&amp;"
            : c === "<"
              ? "&lt;"
              : "&gt;"
  )

/** Go's `template.JSEscapeString`. */
export const jsEscape = (s: string): string => {
  let out = ""
  for (const ch of s) {
    const r = ch.codePointAt(0)!
    switch (ch) {
      case "\\":
        out += "\\\\"
        continue
      case "'":
        out += "\\'"
        continue
      case '"':
        out += '\\"'
        continue
      case "<":
        out += "\\u003C"
        continue
      case ">":
        out += "\\u003E"
        continue
      case "&":
        out += "\\u0026"
        continue
      case "=":
        out += "\\u003D"
        continue
    }
    if (r < 0x20) out += `\\u00${r.toString(16).toUpperCase().padStart(2, "0")}`
    else if (r < 0x80) out += ch
    else if (isPrint(r)) out += ch
    else out += `\\u${r.toString(16).toUpperCase().padStart(4, "0")}`
  }
  return out
}

/** Go's `url.QueryEscape`. */
export const queryEscape = (s: string): string => {
  let out = ""
  for (const b of utf8(s)) {
    const c = String.fromCharCode(b)
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c
    else if (c === " ") out += "+"
    else out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return out
}

/** text/template's builtins. */
export const builtins: ReadonlyMap<string, GoFunc> = new Map(
  [
    fn("and", [rv, rvs], rv, () => undefined, true),
    fn("or", [rv, rvs], rv, () => undefined, true),
    fn("call", [rv, rvs], rv, () => undefined, true),
    fn("not", [rv], T.bool, (v: unknown) => !isTrueValue(v)),
    fn("len", [rv], T.int, length),
    fn("index", [rv, rvs], rv, index, true),
    fn("print", [anys], T.string, (...a: Array<unknown>) => sprint(a), true),
    fn("printf", [T.string, anys], T.string, (f: string, ...a: Array<unknown>) => sprintf(f, a), true),
    fn("println", [anys], T.string, (...a: Array<unknown>) => sprintln(a), true),
    fn("html", [anys], T.string, (...a: Array<unknown>) => htmlEscape(evalArgs(a)), true),
    fn("js", [anys], T.string, (...a: Array<unknown>) => jsEscape(evalArgs(a)), true),
    fn("urlquery", [anys], T.string, (...a: Array<unknown>) => queryEscape(evalArgs(a)), true),
    fn("eq", [rv, rvs], T.bool, eq, true),
    fn("ne", [rv, rv], T.bool, (a: unknown, b: unknown) => !eq(a, b)),
    fn("lt", [rv, rv], T.bool, lt),
    fn("le", [rv, rv], T.bool, le),
    fn("gt", [rv, rv], T.bool, (a: unknown, b: unknown) => !le(a, b)),
    fn("ge", [rv, rv], T.bool, (a: unknown, b: unknown) => !lt(a, b))
  ].map((f) => [f.name, f])
)

const isTrueValue = (v: unknown): boolean => isTrue(v)[0]
