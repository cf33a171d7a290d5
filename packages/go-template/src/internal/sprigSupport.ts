/**
 * What Sprig's functions share: Go-style casts (spf13/cast), `strval`, `empty`, reflection-kind checks, and the
 * byte-wise string helpers Sprig's dependencies use.
 *
 * @internal
 */
import { formatV, stringerText } from "./fmt.ts"
import { fromUtf8, parseFloat64, parseInt64, utf8 } from "./strconv.ts"
import { floatOf, GoError, type GoNumber, intOf, isEmptyValue, type Kind, kindOf, typeOf } from "./values.ts"

/** Sprig's `strval`: strings as they are, Stringers by their text, anything else as `%v`. */
export const strval = (v: unknown): string => {
  if (typeof v === "string") return v
  if (v instanceof Uint8Array) return fromUtf8(v)
  const s = stringerText(v)
  if (s !== undefined) return s
  return formatV(v)
}

/** Sprig's `empty`. */
export const empty = (v: unknown): boolean =>
  isEmptyValue(v, (k, x) => {
    if (k === "complex64" || k === "complex128") {
      const c = (x as GoNumber).value as unknown as [number, number]
      return c[0] === 0 && c[1] === 0
    }
    if (k === "struct") return false
    return false
  })

/** The panic Go raises for `reflect.TypeOf(nil).Kind()`. */
export const nilDeref = (): GoError =>
  new GoError("runtime error: invalid memory address or nil pointer dereference")

/** `reflect.TypeOf(v).Kind()`, panicking on nil as Go does. */
export const reflectKind = (v: unknown): Kind => {
  const k = kindOf(v)
  if (k === undefined) throw nilDeref()
  return k
}

/** The elements of a slice or array, or undefined for other kinds (nil panics). */
export const listItems = (v: unknown): ReadonlyArray<unknown> | undefined => {
  const k = reflectKind(v)
  if (k === "slice" || k === "array")
    return v instanceof Uint8Array ? Array.from(v, (b) => b) : (v as Array<unknown>)
  return undefined
}

const exactType = (v: unknown): string | undefined => typeOf(v)?.name

const floatToInt = (f: number): bigint => {
  if (Number.isNaN(f) || !Number.isFinite(f) || Math.abs(f) >= 2 ** 63) return -(1n << 63n)
  return BigInt(Math.trunc(f))
}

const intTypes = new Set([
  "int",
  "int64",
  "int32",
  "int16",
  "int8",
  "uint",
  "uint64",
  "uint32",
  "uint16",
  "uint8"
])

/** spf13/cast v1.3.1's `ToInt64` (as Sprig v3.2.3 uses it; errors give 0). */
export const toInt64 = (v: unknown): bigint => {
  const t = exactType(v)
  if (t === undefined) return 0n
  if (intTypes.has(t)) return BigInt.asIntN(64, intOf(v))
  if (t === "float64" || t === "float32") return floatToInt(floatOf(v))
  if (t === "string") return parseInt64(v as string, 0) ?? 0n
  if (t === "bool") return v ? 1n : 0n
  return 0n
}

/** spf13/cast v1.3.1's `ToInt` (errors give 0). */
export const toInt = (v: unknown): bigint => toInt64(v)

/** spf13/cast v1.3.1's `ToFloat64` (errors give 0). */
export const toFloat64 = (v: unknown): number => {
  const t = exactType(v)
  if (t === undefined) return 0
  if (t === "float64" || t === "float32") return floatOf(v)
  if (intTypes.has(t)) return Number(intOf(v))
  if (t === "string") return parseFloat64(v as string) ?? 0
  if (t === "bool") return v ? 1 : 0
  return 0
}

/** A string's UTF-8 bytes sliced, as Go slices strings (may cut a character; shown as U+FFFD). */
export const byteSlice = (s: string, start: number, end?: number): string => {
  const b = utf8(s)
  return fromUtf8(b.subarray(start, end ?? b.length))
}

/** Go's `len` of a string. */
export const byteLen = (s: string): number => utf8(s).length

/** A panic for a Go slice expression out of range. */
export const sliceBounds = (lo: number, hi: number, len: number): GoError =>
  lo > hi
    ? new GoError(`runtime error: slice bounds out of range [${lo}:${hi}]`)
    : new GoError(`runtime error: slice bounds out of range [:${hi}] with length ${len}`)
