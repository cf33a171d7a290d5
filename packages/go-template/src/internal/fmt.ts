/**
 * Go's fmt printing (`Sprint`, `Sprintln`, `Sprintf`) over the engine's Go values: verbs, flags, width and
 * precision, Stringers, and fmt's in-band error reports (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA …)`).
 *
 * @internal
 */
import {
  canBackquote,
  formatFloat,
  formatFloatHex,
  isPrint,
  quote,
  quoteRune,
  runeCount,
  utf8
} from "./strconv.ts"
import {
  floatOf,
  type GoNumber,
  intOf,
  isComplexKind,
  isFloatKind,
  isIntKind,
  isPlainStruct,
  isUintKind,
  methodOf,
  sortedEntries,
  structFields,
  typeName,
  typeOf
} from "./values.ts"

interface Flags {
  widPresent: boolean
  precPresent: boolean
  minus: boolean
  plus: boolean
  sharp: boolean
  space: boolean
  zero: boolean
  plusV: boolean
  sharpV: boolean
  wid: number
  prec: number
}

const clearFlags = (): Flags => ({
  widPresent: false,
  precPresent: false,
  minus: false,
  plus: false,
  sharp: false,
  space: false,
  zero: false,
  plusV: false,
  sharpV: false,
  wid: 0,
  prec: 0
})

const ldigits = "0123456789abcdefx"
const udigits = "0123456789ABCDEFX"

/** The text a Stringer (or error) value gives, or undefined when the value has no such method. */
export const stringerText = (v: unknown): string | undefined => {
  if (v === null || v === undefined || typeof v !== "object") return undefined
  const m = methodOf(v, "Error") ?? methodOf(v, "String")
  if (m === undefined || (m.params.length > 0 && !m.variadic)) return undefined
  return String(m.call())
}

class Printer {
  buf = ""
  f: Flags = clearFlags()
  erroring = false
  // The argument being printed (for bad-verb reports): [has, value].
  argSet = false
  arg: unknown = undefined

  writePadding(n: number): void {
    if (n <= 0) return
    this.buf += (this.f.zero && !this.f.minus ? "0" : " ").repeat(n)
  }

  pad(s: string): void {
    if (!this.f.widPresent || this.f.wid === 0) {
      this.buf += s
      return
    }
    const width = this.f.wid - runeCount(s)
    if (!this.f.minus) {
      this.writePadding(width)
      this.buf += s
    } else {
      this.buf += s
      this.writePadding(width)
    }
  }

  fmtBoolean(v: boolean): void {
    this.pad(v ? "true" : "false")
  }

  fmtUnicode(u: bigint): void {
    let prec = 4
    if (this.f.precPresent && this.f.prec > 4) prec = this.f.prec
    let s = (u < 0n ? BigInt.asUintN(64, u) : u).toString(16).toUpperCase()
    if (s.length < prec) s = s.padStart(prec, "0")
    s = `U+${s}`
    if (this.f.sharp && u <= 0x10ffffn && isPrint(Number(u))) s += ` '${String.fromCodePoint(Number(u))}'`
    const oldZero = this.f.zero
    this.f.zero = false
    this.pad(s)
    this.f.zero = oldZero
  }

  fmtInteger(value: bigint, base: number, isSigned: boolean, verb: string, digits: string): void {
    let u = value
    const negative = isSigned && u < 0n
    if (negative) u = -u
    else if (!isSigned && u < 0n) u = BigInt.asUintN(64, u)
    let prec = 0
    if (this.f.precPresent) {
      prec = this.f.prec
      if (prec === 0 && u === 0n) {
        const oldZero = this.f.zero
        this.f.zero = false
        this.writePadding(this.f.wid)
        this.f.zero = oldZero
        return
      }
    } else if (this.f.zero && !this.f.minus && this.f.widPresent) {
      prec = this.f.wid
      if (negative || this.f.plus || this.f.space) prec--
    }
    let s = u.toString(base)
    if (digits === udigits) s = s.toUpperCase()
    if (s.length < prec) s = s.padStart(prec, "0")
    if (this.f.sharp) {
      if (base === 2) s = `0b${s}`
      else if (base === 8) {
        if (s[0] !== "0") s = `0${s}`
      } else if (base === 16) s = `0${digits[16]}${s}`
    }
    if (verb === "O") s = `0o${s}`
    if (negative) s = `-${s}`
    else if (this.f.plus) s = `+${s}`
    else if (this.f.space) s = ` ${s}`
    const oldZero = this.f.zero
    this.f.zero = false
    this.pad(s)
    this.f.zero = oldZero
  }

  truncateString(s: string): string {
    if (this.f.precPresent) {
      let n = this.f.prec
      let i = 0
      for (const ch of s) {
        n--
        if (n < 0) return s.slice(0, i)
        i += ch.length
      }
    }
    return s
  }

  fmtS(s: string): void {
    this.pad(this.truncateString(s))
  }

  fmtSx(s: string, digits: string): void {
    let b = utf8(s)
    let length = b.length
    if (this.f.precPresent && this.f.prec < length) length = this.f.prec
    b = b.subarray(0, length)
    let width = 2 * length
    if (width > 0) {
      if (this.f.space) {
        if (this.f.sharp) width *= 2
        width += length - 1
      } else if (this.f.sharp) width += 2
    } else {
      if (this.f.widPresent) this.writePadding(this.f.wid)
      return
    }
    if (this.f.widPresent && this.f.wid > width && !this.f.minus) this.writePadding(this.f.wid - width)
    let out = ""
    if (this.f.sharp) out += `0${digits[16]}`
    for (let i = 0; i < length; i++) {
      if (this.f.space && i > 0) {
        out += " "
        if (this.f.sharp) out += `0${digits[16]}`
      }
      const c = b[i]!
      out += digits[c >> 4]! + digits[c & 0xf]!
    }
    this.buf += out
    if (this.f.widPresent && this.f.wid > width && this.f.minus) this.writePadding(this.f.wid - width)
  }

  fmtQ(s: string): void {
    s = this.truncateString(s)
    if (this.f.sharp && canBackquote(s)) {
      this.pad(`\`${s}\``)
      return
    }
    this.pad(quote(s, this.f.plus))
  }

  fmtC(c: bigint): void {
    let r = Number(c)
    if (c > 0x10ffffn || c < 0n || (r >= 0xd800 && r <= 0xdfff)) r = 0xfffd
    this.pad(String.fromCodePoint(r))
  }

  fmtQc(c: bigint): void {
    let r = Number(c)
    if (c > 0x10ffffn || c < 0n) r = 0xfffd
    this.pad(quoteRune(r, this.f.plus))
  }

  fmtFloatRaw(v: number, size: 32 | 64, verb: string, prec: number): void {
    if (this.f.precPresent) prec = this.f.prec
    let num =
      verb === "x" || verb === "X"
        ? formatFloatHex(size === 32 ? Math.fround(v) : v, prec, verb === "X")
        : verb === "b"
          ? formatFloatBinary(v)
          : formatFloat(v, verb, prec, size)
    if (num[0] === "-" || num[0] === "+") {
      // keep the sign
    } else num = `+${num}`
    if (this.f.space && num[0] === "+" && !this.f.plus) num = ` ${num.slice(1)}`
    if (num[1] === "I" || num[1] === "N") {
      const oldZero = this.f.zero
      this.f.zero = false
      if (num[1] === "N" && !this.f.space && !this.f.plus) num = num.slice(1)
      this.pad(num)
      this.f.zero = oldZero
      return
    }
    if (this.f.sharp && verb !== "b") {
      let digits = 0
      switch (verb) {
        case "v":
        case "g":
        case "G":
        case "x":
          digits = prec
          if (digits === -1) digits = 6
      }
      let tail = ""
      let hasDecimalPoint = false
      let sawNonzeroDigit = false
      let body = num
      for (let i = 1; i < body.length; i++) {
        const c = body[i]!
        if (c === ".") {
          hasDecimalPoint = true
        } else if (c === "p" || c === "P") {
          tail = body.slice(i)
          body = body.slice(0, i)
          break
        } else if ((c === "e" || c === "E") && verb !== "x" && verb !== "X") {
          tail = body.slice(i)
          body = body.slice(0, i)
          break
        } else {
          if (c !== "0") sawNonzeroDigit = true
          if (sawNonzeroDigit) digits--
        }
      }
      if (!hasDecimalPoint) {
        if (body.length === 2 && body[1] === "0") digits--
        body += "."
      }
      while (digits > 0) {
        body += "0"
        digits--
      }
      num = body + tail
    }
    if (this.f.plus || num[0] !== "+") {
      if (this.f.zero && !this.f.minus && this.f.widPresent && this.f.wid > num.length) {
        this.buf += num[0]
        this.writePadding(this.f.wid - num.length)
        this.buf += num.slice(1)
        return
      }
      this.pad(num)
      return
    }
    this.pad(num.slice(1))
  }

  // --- pp level -------------------------------------------------------------------------------------------

  badVerb(verb: string, value: unknown, hasValue: boolean): void {
    this.erroring = true
    this.buf += `%!${verb}(`
    if (hasValue && value !== null && value !== undefined) {
      this.buf += `${typeName(value)}=`
      this.printArg(value, "v")
    } else {
      this.buf += "<nil>"
    }
    this.buf += ")"
    this.erroring = false
  }

  fmtBool(v: boolean, verb: string, value: unknown): void {
    if (verb === "t" || verb === "v") this.fmtBoolean(v)
    else this.badVerb(verb, value, true)
  }

  fmtIntegerVerb(v: bigint, isSigned: boolean, verb: string, value: unknown): void {
    switch (verb) {
      case "v":
        if (this.f.sharpV && !isSigned) {
          const sharp = this.f.sharp
          this.f.sharp = true
          this.fmtInteger(v, 16, false, "v", ldigits)
          this.f.sharp = sharp
        } else this.fmtInteger(v, 10, isSigned, verb, ldigits)
        return
      case "d":
        this.fmtInteger(v, 10, isSigned, verb, ldigits)
        return
      case "b":
        this.fmtInteger(v, 2, isSigned, verb, ldigits)
        return
      case "o":
      case "O":
        this.fmtInteger(v, 8, isSigned, verb, ldigits)
        return
      case "x":
        this.fmtInteger(v, 16, isSigned, verb, ldigits)
        return
      case "X":
        this.fmtInteger(v, 16, isSigned, verb, udigits)
        return
      case "c":
        this.fmtC(v)
        return
      case "q":
        this.fmtQc(v)
        return
      case "U":
        this.fmtUnicode(v)
        return
      default:
        this.badVerb(verb, value, true)
        return
    }
  }

  fmtFloatVerb(v: number, size: 32 | 64, verb: string, value: unknown): void {
    switch (verb) {
      case "v":
        this.fmtFloatRaw(v, size, "g", -1)
        return
      case "b":
      case "g":
      case "G":
      case "x":
      case "X":
        this.fmtFloatRaw(v, size, verb, -1)
        return
      case "f":
      case "e":
      case "E":
        this.fmtFloatRaw(v, size, verb, 6)
        return
      case "F":
        this.fmtFloatRaw(v, size, "f", 6)
        return
      default:
        this.badVerb(verb, value, true)
        return
    }
  }

  fmtComplexVerb(c: [number, number], size: 64 | 128, verb: string, value: unknown): void {
    switch (verb) {
      case "v":
      case "b":
      case "g":
      case "G":
      case "x":
      case "X":
      case "f":
      case "F":
      case "e":
      case "E": {
        const oldPlus = this.f.plus
        this.buf += "("
        this.fmtFloatVerb(c[0], size === 64 ? 32 : 64, verb, value)
        this.f.plus = true
        this.fmtFloatVerb(c[1], size === 64 ? 32 : 64, verb, value)
        this.buf += "i)"
        this.f.plus = oldPlus
        return
      }
      default:
        this.badVerb(verb, value, true)
        return
    }
  }

  fmtString(v: string, verb: string, value: unknown): void {
    switch (verb) {
      case "v":
        if (this.f.sharpV) this.fmtQ(v)
        else this.fmtS(v)
        return
      case "s":
        this.fmtS(v)
        return
      case "x":
        this.fmtSx(v, ldigits)
        return
      case "X":
        this.fmtSx(v, udigits)
        return
      case "q":
        this.fmtQ(v)
        return
      default:
        this.badVerb(verb, value, true)
        return
    }
  }

  handleMethods(v: unknown, verb: string): boolean {
    if (this.erroring) return false
    if (this.f.sharpV) return false
    switch (verb) {
      case "v":
      case "s":
      case "x":
      case "X":
      case "q": {
        const s = stringerText(v)
        if (s === undefined) return false
        this.fmtString(s, verb, v)
        return true
      }
    }
    return false
  }

  printArg(arg: unknown, verb: string): void {
    if (arg === null || arg === undefined) {
      if (verb === "T" || verb === "v") this.pad("<nil>")
      else this.badVerb(verb, arg, false)
      return
    }
    if (verb === "T") {
      this.fmtS(typeName(arg))
      return
    }
    if (verb === "p") {
      this.fmtPointer(arg, verb)
      return
    }
    if (!this.handleMethods(arg, verb)) this.printValue(arg, verb, 0)
  }

  fmtPointer(value: unknown, verb: string): void {
    const k = typeOf(value)?.kind
    if (k !== "map" && k !== "slice" && k !== "func" && k !== "ptr" && k !== "chan") {
      this.badVerb(verb, value, true)
      return
    }
    // Addresses are not reproducible: print a plausible one.
    const sharp = this.f.sharp
    this.f.sharp = !sharp
    this.fmtInteger(0xc000010000n, 16, false, "v", ldigits)
    this.f.sharp = sharp
  }

  printValue(value: unknown, verb: string, depth: number): void {
    if (depth > 0 && value !== null && value !== undefined) {
      if (this.handleMethods(value, verb)) return
    }
    const t = typeOf(value)
    if (t === undefined) {
      // A nil element of a slice, map or struct: a nil interface value.
      if (depth === 0) this.buf += "<invalid reflect.Value>"
      else this.buf += this.f.sharpV ? "interface {}(nil)" : "<nil>"
      return
    }
    const k = t.kind
    if (k === "bool") {
      this.fmtBool(value as boolean, verb, value)
      return
    }
    if (isIntKind(k)) {
      this.fmtIntegerVerb(intOf(value), true, verb, value)
      return
    }
    if (isUintKind(k)) {
      this.fmtIntegerVerb(intOf(value), false, verb, value)
      return
    }
    if (isFloatKind(k)) {
      this.fmtFloatVerb(floatOf(value), k === "float32" ? 32 : 64, verb, value)
      return
    }
    if (isComplexKind(k)) {
      this.fmtComplexVerb(
        (value as GoNumber).value as unknown as [number, number],
        k === "complex64" ? 64 : 128,
        verb,
        value
      )
      return
    }
    switch (k) {
      case "string":
        this.fmtString(value as string, verb, value)
        return
      case "map": {
        const m = value as ReadonlyMap<unknown, unknown>
        if (this.f.sharpV) this.buf += `${t.name}{`
        else this.buf += "map["
        let i = 0
        for (const [key, v] of sortedEntries(m)) {
          if (i++ > 0) this.buf += this.f.sharpV ? ", " : " "
          this.printValue(key, verb, depth + 1)
          this.buf += ":"
          this.printValue(v, verb, depth + 1)
        }
        this.buf += this.f.sharpV ? "}" : "]"
        return
      }
      case "struct": {
        if (t.name.startsWith("*") && depth === 0) this.buf += "&"
        if (this.f.sharpV) this.buf += t.name.replace(/^\*/, "")
        this.buf += "{"
        const fields =
          t.fields ??
          (isPlainStruct(value) ? structFields(value) : Object.keys(value as Record<string, unknown>))
        const o = value as Record<string, unknown>
        fields.forEach((name, i) => {
          if (i > 0) this.buf += this.f.sharpV ? ", " : " "
          if (this.f.plusV || this.f.sharpV) this.buf += `${name}:`
          this.printValue(o[name], verb, depth + 1)
        })
        this.buf += "}"
        return
      }
      case "slice":
      case "array": {
        const items: ReadonlyArray<unknown> =
          value instanceof Uint8Array ? [...value] : (value as Array<unknown>)
        if ((verb === "s" || verb === "q" || verb === "x" || verb === "X") && t.elem?.kind === "uint8") {
          const s = new TextDecoder().decode(Uint8Array.from(items.map((x) => Number(intOf(x)))))
          if (verb === "s") this.fmtS(s)
          else this.fmtString(s, verb, value)
          return
        }
        if (this.f.sharpV) {
          this.buf += `${t.name}{`
          items.forEach((x, i) => {
            if (i > 0) this.buf += ", "
            this.printValue(x, verb, depth + 1)
          })
          this.buf += "}"
        } else {
          this.buf += "["
          items.forEach((x, i) => {
            if (i > 0) this.buf += " "
            this.printValue(x, verb, depth + 1)
          })
          this.buf += "]"
        }
        return
      }
      case "func":
      case "chan":
      case "ptr":
        this.fmtPointer(value, verb)
        return
      default:
        this.buf += `?${t.name}?`
    }
  }

  doPrint(args: ReadonlyArray<unknown>): void {
    let prevString = false
    args.forEach((arg, i) => {
      const isString = typeOf(arg)?.kind === "string"
      if (i > 0 && !isString && !prevString) this.buf += " "
      this.printArg(arg, "v")
      prevString = isString
    })
  }

  doPrintln(args: ReadonlyArray<unknown>): void {
    args.forEach((arg, i) => {
      if (i > 0) this.buf += " "
      this.printArg(arg, "v")
    })
    this.buf += "\n"
  }

  doPrintf(format: string, a: ReadonlyArray<unknown>): void {
    const end = format.length
    let argNum = 0
    let afterIndex = false
    let reordered = false
    let goodArgNum = true

    const parsenum = (s: string, start: number, e: number): [number, boolean, number] => {
      if (start >= e) return [0, false, e]
      let num = 0
      let isnum = false
      let i = start
      for (; i < e && s[i]! >= "0" && s[i]! <= "9"; i++) {
        if (num > 1e6 || num < -1e6) return [0, false, e]
        num = num * 10 + (s.charCodeAt(i) - 48)
        isnum = true
      }
      return [num, isnum, i]
    }

    const argNumber = (argN: number, i: number, numArgs: number): [number, number, boolean] => {
      if (format.length <= i || format[i] !== "[") return [argN, i, false]
      reordered = true
      // parseArgNumber
      const sub = format.slice(i)
      let index = 0
      let wid = 1
      let ok = false
      if (sub.length >= 3) {
        for (let j = 1; j < sub.length; j++) {
          if (sub[j] === "]") {
            const [width, isOk, newi] = parsenum(sub, 1, j)
            if (!isOk || newi !== j) {
              index = 0
              wid = j + 1
              ok = false
            } else {
              index = width - 1
              wid = j + 1
              ok = true
            }
            break
          }
        }
      }
      if (ok && index >= 0 && index < numArgs) return [index, i + wid, true]
      goodArgNum = false
      return [argN, i + wid, ok]
    }

    const intFromArg = (argN: number): [number, boolean, number] => {
      let num = 0
      let isInt = false
      let newArgNum = argN
      if (argN < a.length) {
        const v = a[argN]
        const k = typeOf(v)?.kind
        if (isIntKind(k) || isUintKind(k)) {
          const n = intOf(v)
          if (n >= -(1n << 63n) && n < 1n << 63n) {
            num = Number(n)
            isInt = true
          }
        }
        newArgNum = argN + 1
        if (num > 1e6 || num < -1e6) {
          num = 0
          isInt = false
        }
      }
      return [num, isInt, newArgNum]
    }

    for (let i = 0; i < end; ) {
      goodArgNum = true
      const lasti = i
      while (i < end && format[i] !== "%") i++
      if (i > lasti) this.buf += format.slice(lasti, i)
      if (i >= end) break
      i++
      this.f = clearFlags()
      let simple = false
      simpleFormat: for (; i < end; i++) {
        const c = format[i]!
        switch (c) {
          case "#":
            this.f.sharp = true
            break
          case "0":
            this.f.zero = true
            break
          case "+":
            this.f.plus = true
            break
          case "-":
            this.f.minus = true
            break
          case " ":
            this.f.space = true
            break
          default:
            if (c >= "a" && c <= "z" && argNum < a.length) {
              if (c === "v" || c === "w") {
                this.f.sharpV = this.f.sharp
                this.f.sharp = false
                this.f.plusV = this.f.plus
                this.f.plus = false
              }
              this.printArg(a[argNum], c)
              argNum++
              i++
              simple = true
            }
            break simpleFormat
        }
      }
      if (simple) continue
      ;[argNum, i, afterIndex] = argNumber(argNum, i, a.length)
      if (i < end && format[i] === "*") {
        i++
        ;[this.f.wid, this.f.widPresent, argNum] = intFromArg(argNum)
        if (!this.f.widPresent) this.buf += "%!(BADWIDTH)"
        if (this.f.wid < 0) {
          this.f.wid = -this.f.wid
          this.f.minus = true
          this.f.zero = false
        }
        afterIndex = false
      } else {
        ;[this.f.wid, this.f.widPresent, i] = parsenum(format, i, end)
        if (afterIndex && this.f.widPresent) goodArgNum = false
      }
      if (i + 1 < end && format[i] === ".") {
        i++
        if (afterIndex) goodArgNum = false
        ;[argNum, i, afterIndex] = argNumber(argNum, i, a.length)
        if (i < end && format[i] === "*") {
          i++
          ;[this.f.prec, this.f.precPresent, argNum] = intFromArg(argNum)
          if (this.f.prec < 0) {
            this.f.prec = 0
            this.f.precPresent = false
          }
          if (!this.f.precPresent) this.buf += "%!(BADPREC)"
          afterIndex = false
        } else {
          ;[this.f.prec, this.f.precPresent, i] = parsenum(format, i, end)
          if (!this.f.precPresent) {
            this.f.prec = 0
            this.f.precPresent = true
          }
        }
      }
      if (!afterIndex) [argNum, i, afterIndex] = argNumber(argNum, i, a.length)
      if (i >= end) {
        this.buf += "%!(NOVERB)"
        break
      }
      const cp = format.codePointAt(i)!
      const verb = String.fromCodePoint(cp)
      i += verb.length
      if (verb === "%") {
        this.buf += "%"
      } else if (!goodArgNum) {
        this.buf += `%!${verb}(BADINDEX)`
      } else if (argNum >= a.length) {
        this.buf += `%!${verb}(MISSING)`
      } else {
        if (verb === "v" || verb === "w") {
          this.f.sharpV = this.f.sharp
          this.f.sharp = false
          this.f.plusV = this.f.plus
          this.f.plus = false
        }
        this.printArg(a[argNum], verb)
        argNum++
      }
    }
    if (!reordered && argNum < a.length) {
      this.f = clearFlags()
      this.buf += "%!(EXTRA "
      a.slice(argNum).forEach((arg, i) => {
        if (i > 0) this.buf += ", "
        if (arg === null || arg === undefined) this.buf += "<nil>"
        else {
          this.buf += `${typeName(arg)}=`
          this.printArg(arg, "v")
        }
      })
      this.buf += ")"
    }
  }
}

const formatFloatBinary = (v: number): string => {
  if (Number.isNaN(v)) return "NaN"
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf"
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, v)
  const bits = view.getBigUint64(0)
  const neg = bits >> 63n !== 0n
  let exp = Number((bits >> 52n) & 0x7ffn)
  let mant = bits & ((1n << 52n) - 1n)
  if (exp === 0) exp++
  else mant |= 1n << 52n
  exp += -1023 - 52
  return `${neg ? "-" : ""}${mant}p${exp >= 0 ? "+" : ""}${exp}`
}

/** Go's `fmt.Sprint`. */
export const sprint = (args: ReadonlyArray<unknown>): string => {
  const p = new Printer()
  p.doPrint(args)
  return p.buf
}

/** Go's `fmt.Sprintln`. */
export const sprintln = (args: ReadonlyArray<unknown>): string => {
  const p = new Printer()
  p.doPrintln(args)
  return p.buf
}

/** Go's `fmt.Sprintf`. */
export const sprintf = (format: string, args: ReadonlyArray<unknown>): string => {
  const p = new Printer()
  p.doPrintf(format, args)
  return p.buf
}

/** `fmt.Sprintf("%v", v)`. */
export const formatV = (v: unknown): string => sprintf("%v", [v])

/** `fmt.Sprintf("%#v", v)`, as far as the engine's values go. */
export const formatSharpV = (v: unknown): string => sprintf("%#v", [v])
