/**
 * How Go values are represented in JavaScript, and the bits of Go's type system text/template, fmt and Sprig
 * observe: kinds, type names, assignability, zero values, truth, equality and map-key order.
 *
 * - nil (an invalid or nil interface value): `null` / `undefined`
 * - bool, string: `boolean`, `string`
 * - int: a JS `number` holding an integer; float64: a JS `number` that is not an integer
 * - int64: a JS `bigint`
 * - any other numeric type (or an int64/float64 that must keep its type, such as a float64 holding 3):
 *   a `GoNumber` (ints as bigint, floats as number)
 * - slices: arrays (`[]interface {}` unless annotated), maps: `Map`s (`map[string]interface {}` unless annotated)
 * - structs: plain objects (fields in key order), `time.Time`: `GoTime`, and anything else that carries its
 *   type under `goType`.
 *
 * @internal
 */
import { compareStrings } from "./strconv.ts"

/** Go's reflect kinds. */
export type Kind =
  | "bool"
  | "int"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "uint"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "uintptr"
  | "float32"
  | "float64"
  | "complex64"
  | "complex128"
  | "string"
  | "interface"
  | "slice"
  | "array"
  | "map"
  | "struct"
  | "ptr"
  | "func"
  | "chan"

/** A Go function or method, with the signature text/template checks arguments against. */
export interface GoFunc {
  readonly name: string
  /** Parameter types; when `variadic`, the last one is the slice type of the `...` parameter. */
  readonly params: ReadonlyArray<GoType>
  readonly variadic: boolean
  readonly result: GoType
  /** Called with the arguments as Go values; throws a `GoError` for the function's error result. */
  readonly call: (...args: Array<unknown>) => unknown
}

/** A Go type, as far as the template engine observes it. */
export interface GoType {
  readonly kind: Kind
  /** What `reflect.Type.String` gives: `int`, `[]interface {}`, `map[string]string`, `time.Time`, … */
  readonly name: string
  readonly elem?: GoType | undefined
  readonly key?: GoType | undefined
  readonly methods?: ReadonlyMap<string, GoFunc> | undefined
  /** The type's zero value, when it is not the kind's. */
  readonly zero?: (() => unknown) | undefined
  /** For struct types: field names in order. */
  readonly fields?: ReadonlyArray<string> | undefined
  /** For struct types: the fields that are embedded (anonymous) structs, whose fields are promoted. */
  readonly embedded?: ReadonlySet<string> | undefined
  /** For struct types: the fields' `json` tags (`name`, `name,omitempty`, `-`). */
  readonly jsonTags?: ReadonlyMap<string, string> | undefined
}

/** Where a value that knows its Go type keeps it. */
export const goType: unique symbol = Symbol.for("@nth/go-template/type") as never

/** An error a Go function returns (or panics with): becomes `error calling <name>: <message>`. */
export class GoError extends Error {}

/** A number of a Go type other than the defaults (`int` for integral numbers, `float64` otherwise). */
export class GoNumber {
  readonly [goType]: GoType
  readonly value: number | bigint
  constructor(type: GoType, value: number | bigint) {
    this[goType] = type
    this.value = value
  }
}

const basic = (kind: Kind, name: string = kind): GoType => ({ kind, name })

/** The types the engine names. */
export const T = {
  bool: basic("bool"),
  int: basic("int"),
  int8: basic("int8"),
  int16: basic("int16"),
  int32: basic("int32"),
  int64: basic("int64"),
  uint: basic("uint"),
  uint8: basic("uint8"),
  uint16: basic("uint16"),
  uint32: basic("uint32"),
  uint64: basic("uint64"),
  uintptr: basic("uintptr"),
  float32: basic("float32"),
  float64: basic("float64"),
  complex128: basic("complex128"),
  string: basic("string"),
  any: basic("interface", "interface {}"),
  error: basic("interface", "error"),
  /** text/template's builtins take `reflect.Value`s: any value, nil included, passes unchanged. */
  reflectValue: basic("struct", "reflect.Value")
} as const

/** `[]elem`. */
export const sliceOf = (elem: GoType): GoType => ({ kind: "slice", name: `[]${elem.name}`, elem })

/** `map[key]elem`. */
export const mapOf = (key: GoType, elem: GoType): GoType => ({
  kind: "map",
  name: `map[${key.name}]${elem.name}`,
  key,
  elem
})

/** Frequently used composite types. */
export const TC = {
  sliceAny: sliceOf(T.any),
  sliceString: sliceOf(T.string),
  sliceInt: sliceOf(T.int),
  mapStringAny: mapOf(T.string, T.any),
  mapStringString: mapOf(T.string, T.string)
} as const

const annotations = new WeakMap<object, GoType>()

/** Gives an array, a `Map` or a plain object (struct) its Go type. */
export const annotate = <A extends object>(value: A, type: GoType): A => {
  annotations.set(value, type)
  return value
}

const nilValues = new WeakSet<object>()

/** A nil slice or map of a type: empty, but `null` in JSON, as Go's nil slices and maps are. */
export const nilOf = (type: GoType): unknown => {
  if (type.kind !== "slice" && type.kind !== "map") return null
  const v = annotate(type.kind === "slice" ? [] : new Map(), type)
  nilValues.add(v)
  return v
}

/** Whether a value is a nil slice or map. */
export const isNilValue = (v: unknown): boolean => typeof v === "object" && v !== null && nilValues.has(v)

/** A slice of the given element type. */
export const slice = (items: Array<unknown>, elem: GoType = T.any): Array<unknown> =>
  elem === T.any ? items : annotate(items, sliceOf(elem))

/** A map of the given types. */
export const goMap = (
  entries: Map<unknown, unknown>,
  key: GoType = T.string,
  elem: GoType = T.any
): Map<unknown, unknown> =>
  key === T.string && elem === T.any ? entries : annotate(entries, mapOf(key, elem))

const structTypes = new WeakMap<object, GoType>()

/** Whether a value is a struct held as a plain object. */
export const isPlainStruct = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== "object" || v === null) return false
  if (goType in v) return false
  if (Array.isArray(v) || v instanceof Map) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** The field names of a struct held as a plain object, in order. */
export const structFields = (v: Record<string, unknown>): Array<string> =>
  Object.keys(v).filter((k) => typeof v[k] !== "function")

const functionType: GoType = { kind: "func", name: "func(...interface {}) interface {}" }

/** The dynamic Go type of a value, or undefined for nil. */
export const typeOf = (v: unknown): GoType | undefined => {
  switch (typeof v) {
    case "undefined":
      return undefined
    case "boolean":
      return T.bool
    case "string":
      return T.string
    case "number":
      return Number.isInteger(v) ? T.int : T.float64
    case "bigint":
      return T.int64
    case "function":
      return functionType
    case "symbol":
      return T.string
    case "object": {
      if (v === null) return undefined
      if (goType in v) return (v as { readonly [goType]: GoType })[goType]
      const a = annotations.get(v)
      if (a !== undefined) return a
      if (Array.isArray(v)) return TC.sliceAny
      if (v instanceof Map) return TC.mapStringAny
      if (v instanceof Uint8Array) return sliceOf(T.uint8)
      let s = structTypes.get(v)
      if (s === undefined) {
        const o = v as Record<string, unknown>
        const fields = structFields(o)
        const parts = fields.map((f) => `${f} ${typeOf(o[f])?.name ?? "interface {}"}`)
        s = {
          kind: "struct",
          name: parts.length === 0 ? "struct {}" : `struct { ${parts.join("; ")} }`,
          fields
        }
        structTypes.set(v, s)
      }
      return s
    }
  }
  return undefined
}

/** The kind of a value, or undefined for nil. */
export const kindOf = (v: unknown): Kind | undefined => typeOf(v)?.kind

/** The name of a value's type, `<nil>` for nil (as `%T` prints it). */
export const typeName = (v: unknown): string => typeOf(v)?.name ?? "<nil>"

export const isIntKind = (k: Kind | undefined): boolean =>
  k === "int" || k === "int8" || k === "int16" || k === "int32" || k === "int64"
export const isUintKind = (k: Kind | undefined): boolean =>
  k === "uint" || k === "uint8" || k === "uint16" || k === "uint32" || k === "uint64" || k === "uintptr"
export const isFloatKind = (k: Kind | undefined): boolean => k === "float32" || k === "float64"
export const isComplexKind = (k: Kind | undefined): boolean => k === "complex64" || k === "complex128"

const bits: Partial<Record<Kind, number>> = {
  int8: 8,
  int16: 16,
  int32: 32,
  int: 64,
  int64: 64,
  uint8: 8,
  uint16: 16,
  uint32: 32,
  uint: 64,
  uint64: 64,
  uintptr: 64
}

/** Wraps an integer to the width of an integer kind, as Go's conversions do. */
export const wrapInt = (kind: Kind, v: bigint): bigint => {
  const n = bits[kind] ?? 64
  return isUintKind(kind) ? BigInt.asUintN(n, v) : BigInt.asIntN(n, v)
}

/** The integer held by a value of an int or uint kind. */
export const intOf = (v: unknown): bigint => {
  if (typeof v === "number") return BigInt(v)
  if (typeof v === "bigint") return v
  if (v instanceof GoNumber) return typeof v.value === "bigint" ? v.value : BigInt(Math.trunc(v.value))
  return 0n
}

/** The number held by a value of a float kind (or any numeric kind). */
export const floatOf = (v: unknown): number => {
  if (typeof v === "number") return v
  if (typeof v === "bigint") return Number(v)
  if (v instanceof GoNumber) return Number(v.value)
  return 0
}

/** A Go value of the given numeric type. */
export const makeNumber = (type: GoType, v: number | bigint): unknown => {
  if (isIntKind(type.kind) || isUintKind(type.kind)) {
    const b = wrapInt(type.kind, typeof v === "bigint" ? v : BigInt(Math.trunc(v)))
    if (type === T.int && b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER))
      return Number(b)
    if (type === T.int64) return b
    return new GoNumber(type, b)
  }
  const f = type.kind === "float32" ? Math.fround(Number(v)) : Number(v)
  if (type === T.float64 && !Number.isInteger(f)) return f
  return new GoNumber(type, f)
}

/** An int value. */
export const int = (v: number | bigint): unknown => makeNumber(T.int, v)
/** An int64 value. */
export const int64 = (v: number | bigint): unknown => makeNumber(T.int64, v)
/** A float64 value. */
export const float64 = (v: number): unknown => makeNumber(T.float64, v)

/** The number of elements of a string (bytes), slice or map. */
export const lengthOf = (v: unknown): number => {
  if (typeof v === "string") return new TextEncoder().encode(v).length
  if (Array.isArray(v)) return v.length
  if (v instanceof Map) return v.size
  if (v instanceof Uint8Array) return v.length
  return 0
}

/** Go's truth (text/template's `IsTrue`): [truth, whether the value has a truth value]. */
export const isTrue = (v: unknown): [boolean, boolean] => {
  const t = typeOf(v)
  if (t === undefined) return [false, true]
  switch (t.kind) {
    case "array":
    case "slice":
    case "map":
    case "string":
      return [lengthOf(v) > 0, true]
    case "bool":
      return [v === true, true]
    case "complex64":
    case "complex128": {
      const c = (v as GoNumber).value as unknown as [number, number]
      return [c[0] !== 0 || c[1] !== 0, true]
    }
    case "chan":
    case "func":
    case "ptr":
    case "interface":
      return [true, true]
    case "struct":
      return [true, true]
    default:
      if (isIntKind(t.kind) || isUintKind(t.kind)) return [intOf(v) !== 0n, true]
      if (isFloatKind(t.kind)) return [floatOf(v) !== 0, true]
      return [false, false]
  }
}

/**
 * The emptiness encoding/json's `omitempty` and Sprig's `empty` share: nil, an empty array, slice, map or string,
 * `false`, a zero integer or float. The kinds they judge differently go to `otherKinds`.
 */
export const isEmptyValue = (v: unknown, otherKinds: (k: Kind, v: unknown) => boolean): boolean => {
  const t = typeOf(v)
  if (t === undefined) return true
  const k = t.kind
  if (k === "array" || k === "slice" || k === "map" || k === "string") return lengthOf(v) === 0
  if (k === "bool") return v === false
  if (isIntKind(k) || isUintKind(k)) return intOf(v) === 0n
  if (isFloatKind(k)) return floatOf(v) === 0
  return otherKinds(k, v)
}

/** Whether values of the type can be nil. */
export const canBeNil = (t: GoType): boolean =>
  t.kind === "chan" ||
  t.kind === "func" ||
  t.kind === "interface" ||
  t.kind === "map" ||
  t.kind === "ptr" ||
  t.kind === "slice" ||
  t === T.reflectValue

/** The zero value of a type. */
export const zeroOf = (t: GoType): unknown => {
  if (t.zero !== undefined) return t.zero()
  if (t === T.reflectValue) return null
  switch (t.kind) {
    case "bool":
      return false
    case "string":
      return ""
    case "slice":
    case "map":
      return nilOf(t)
    case "interface":
    case "ptr":
    case "func":
    case "chan":
      return null
    case "struct":
      return annotate({}, t)
    default:
      if (isIntKind(t.kind) || isUintKind(t.kind)) return makeNumber(t, 0n)
      if (isFloatKind(t.kind)) return makeNumber(t, 0)
      return null
  }
}

/** Whether a value of type `from` can be passed where `to` is expected (Go's assignability, simplified). */
export const assignable = (from: GoType, to: GoType): boolean => {
  if (to === T.reflectValue) return true
  if (to.kind === "interface") {
    if (to.name === "interface {}") return true
    if (to.name === "error") return from.name === "error" || from.methods?.has("Error") === true
    return from.name === to.name
  }
  return from.name === to.name
}

/** Go's `reflect.DeepEqual`, for the values the engine holds. */
export const deepEqual = (a: unknown, b: unknown): boolean => {
  const ta = typeOf(a)
  const tb = typeOf(b)
  if (ta === undefined || tb === undefined) return ta === tb
  if (ta.name !== tb.name) return false
  if (a === b) return true
  const k = ta.kind
  if (isIntKind(k) || isUintKind(k)) return intOf(a) === intOf(b)
  if (isFloatKind(k)) return floatOf(a) === floatOf(b)
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]))
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false
    for (const [key, value] of a) {
      if (!b.has(key) || !deepEqual(value, b.get(key))) return false
    }
    return true
  }
  if (typeof a === "object" && typeof b === "object") {
    const eq = (a as { equals?: (o: unknown) => boolean }).equals
    if (typeof eq === "function") return eq.call(a, b)
    if (isPlainStruct(a) && isPlainStruct(b)) {
      const fa = structFields(a)
      const fb = structFields(b)
      return fa.length === fb.length && fa.every((f, i) => f === fb[i] && deepEqual(a[f], b[f]))
    }
  }
  return a === b
}

/** Compares two map keys as Go's fmtsort does (numbers numerically, strings byte-wise, false before true). */
export const compareKeys = (a: unknown, b: unknown): number => {
  const ka = kindOf(a)
  if (typeof a === "string" && typeof b === "string") return compareStrings(a, b)
  if (isIntKind(ka) || isUintKind(ka)) {
    const x = intOf(a)
    const y = intOf(b)
    return x < y ? -1 : x > y ? 1 : 0
  }
  if (isFloatKind(ka)) {
    const x = floatOf(a)
    const y = floatOf(b)
    if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) ? (Number.isNaN(y) ? 0 : -1) : 1
    return x < y ? -1 : x > y ? 1 : 0
  }
  if (typeof a === "boolean" && typeof b === "boolean") return a === b ? 0 : a ? 1 : -1
  return compareStrings(String(a), String(b))
}

/** A map's entries in Go's printing and ranging order. */
export const sortedEntries = (m: ReadonlyMap<unknown, unknown>): Array<[unknown, unknown]> =>
  [...m.entries()].sort((x, y) => compareKeys(x[0], y[0]))

/** The struct type of a struct value, if it is one. */
const structTypeOf = (v: unknown): GoType | undefined => {
  const t = typeOf(v)
  return t?.kind === "struct" ? t : undefined
}

const fieldsOf = (v: unknown, t: GoType): ReadonlyArray<string> =>
  t.fields ?? (isPlainStruct(v) ? structFields(v) : [])

/**
 * Go's `FieldByName` on a struct value: the field, or one promoted from an embedded struct (the shallowest;
 * two at the same depth hide each other). Undefined when there is none.
 */
export const findField = (v: unknown, name: string): { readonly value: unknown } | undefined => {
  let level: Array<unknown> = [v]
  const seen = new Set<unknown>()
  while (level.length > 0) {
    const matches: Array<unknown> = []
    const next: Array<unknown> = []
    for (const s of level) {
      if (seen.has(s)) continue
      seen.add(s)
      const t = structTypeOf(s)
      if (t === undefined) continue
      const o = s as Record<string, unknown>
      for (const f of fieldsOf(s, t)) {
        if (f === name) matches.push(o[f])
        if (t.embedded?.has(f) === true && structTypeOf(o[f]) !== undefined) next.push(o[f])
      }
    }
    if (matches.length === 1) return { value: matches[0] }
    if (matches.length > 1) return undefined
    level = next
  }
  return undefined
}

/** The methods a value has: those of its type, and for a plain-object struct, its function-valued fields. */
export const methodOf = (v: unknown, name: string): GoFunc | undefined => {
  const t = typeOf(v)
  const m = t?.methods?.get(name)
  if (m !== undefined) return { ...m, call: (...args: Array<unknown>) => m.call.apply(v, args) }
  if (isPlainStruct(v)) {
    const f = v[name]
    if (typeof f === "function")
      return {
        name,
        params: [sliceOf(T.any)],
        variadic: true,
        result: T.any,
        call: (...args: Array<unknown>) => (f as (...a: Array<unknown>) => unknown).apply(v, args)
      }
  }
  return undefined
}

const basicTypes: Record<string, GoType> = {
  bool: T.bool,
  int: T.int,
  int8: T.int8,
  int16: T.int16,
  int32: T.int32,
  rune: T.int32,
  int64: T.int64,
  uint: T.uint,
  uint8: T.uint8,
  byte: T.uint8,
  uint16: T.uint16,
  uint32: T.uint32,
  uint64: T.uint64,
  uintptr: T.uintptr,
  float32: T.float32,
  float64: T.float64,
  string: T.string,
  any: T.any,
  "interface {}": T.any,
  "interface{}": T.any,
  error: T.error
}

/** Reads a Go type expression: basic names, `[]T`, `map[K]V`, `interface {}`/`any`. */
export const parseType = (text: string): GoType => {
  const s = text.trim()
  if (s.startsWith("[]")) return sliceOf(parseType(s.slice(2)))
  if (s.startsWith("map[")) {
    let depth = 0
    for (let i = 3; i < s.length; i++) {
      if (s[i] === "[") depth++
      else if (s[i] === "]") {
        depth--
        if (depth === 0) return mapOf(parseType(s.slice(4, i)), parseType(s.slice(i + 1)))
      }
    }
  }
  const b = basicTypes[s]
  if (b === undefined) throw new Error(`unknown Go type ${JSON.stringify(text)}`)
  return b
}
