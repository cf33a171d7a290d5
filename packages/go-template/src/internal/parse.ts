/**
 * Go's text/template/parse: the lexer, the node types and the parser, with Go's error messages and line numbers.
 *
 * Positions are indices into the source string (UTF-16 code units); error locations are converted to Go's byte
 * columns when reported.
 *
 * @internal
 */
import {
  isSpace as isGoSpace,
  isDigit as isUnicodeDigit,
  isLetter as isUnicodeLetter,
  parseFloat64,
  parseIntLiteral,
  quote,
  unquote,
  unquoteRune
} from "./strconv.ts"

// ---------------------------------------------------------------------------------------------------------------
// Lexer

export const ItemType = {
  Error: 0,
  Bool: 1,
  Char: 2,
  CharConstant: 3,
  Comment: 4,
  Complex: 5,
  Assign: 6,
  Declare: 7,
  EOF: 8,
  Field: 9,
  Identifier: 10,
  LeftDelim: 11,
  LeftParen: 12,
  Number: 13,
  Pipe: 14,
  RawString: 15,
  RightDelim: 16,
  RightParen: 17,
  Space: 18,
  String: 19,
  Text: 20,
  Variable: 21,
  Keyword: 22,
  Block: 23,
  Break: 24,
  Continue: 25,
  Dot: 26,
  Define: 27,
  Else: 28,
  End: 29,
  If: 30,
  Nil: 31,
  Range: 32,
  Template: 33,
  With: 34
} as const
export type ItemType = (typeof ItemType)[keyof typeof ItemType]

export interface Item {
  readonly typ: ItemType
  readonly pos: number
  readonly val: string
  readonly line: number
}

const keywords: Record<string, ItemType> = {
  ".": ItemType.Dot,
  block: ItemType.Block,
  break: ItemType.Break,
  continue: ItemType.Continue,
  define: ItemType.Define,
  else: ItemType.Else,
  end: ItemType.End,
  if: ItemType.If,
  range: ItemType.Range,
  nil: ItemType.Nil,
  template: ItemType.Template,
  with: ItemType.With
}

/** `%#U` of a rune: `U+0023 '#'`. */
export const formatSharpU = (r: number): string => {
  const hex = r.toString(16).toUpperCase().padStart(4, "0")
  return r === -1 ? "U+FFFFFFFFFFFFFFFF" : `U+${hex} '${String.fromCodePoint(r)}'`
}

/** Go's item.String(), used in "unexpected …" errors. */
export const itemString = (i: Item): string => {
  if (i.typ === ItemType.EOF) return "EOF"
  if (i.typ === ItemType.Error) return i.val
  if (i.typ > ItemType.Keyword) return `<${i.val}>`
  const runes = [...i.val]
  if (runes.length > 10) return `${quote(runes.slice(0, 10).join(""))}...`
  return quote(i.val)
}

const isSpace = (c: string | undefined): boolean => c === " " || c === "\t" || c === "\r" || c === "\n"
const isAlphaNumeric = (c: string | undefined): boolean => {
  if (c === undefined) return false
  if (c === "_") return true
  const r = c.codePointAt(0)!
  return isUnicodeLetter(r) || isUnicodeDigit(r)
}
const spaceChars = " \t\r\n"
const trimRightLength = (s: string): number => {
  let i = s.length
  while (i > 0 && spaceChars.includes(s[i - 1]!)) i--
  return s.length - i
}
const trimLeftLength = (s: string): number => {
  let i = 0
  while (i < s.length && spaceChars.includes(s[i]!)) i++
  return i
}
const hasLeftTrimMarker = (s: string, at: number): boolean => s[at] === "-" && isSpace(s[at + 1])
const hasRightTrimMarker = (s: string, at: number): boolean => isSpace(s[at]) && s[at + 1] === "-"
const countNewlines = (s: string, from: number, to: number): number => {
  let n = 0
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === 10) n++
  return n
}

type StateFn = ((l: Lexer) => StateFn) | null

const leftDelim = "{{"
const rightDelim = "}}"
const leftComment = "/*"
const rightComment = "*/"

/** Go's lexer, driven one item at a time by the parser. */
export class Lexer {
  readonly input: string
  pos = 0
  start = 0
  atEOF = false
  parenDepth = 0
  line = 1
  startLine = 1
  item: Item = { typ: ItemType.EOF, pos: 0, val: "EOF", line: 1 }
  insideAction = false
  breakOK = true
  continueOK = true
  private text: string

  constructor(input: string) {
    this.input = input
    this.text = input
  }

  // Reads one code point (as a string), or undefined at the end.
  next(): string | undefined {
    if (this.pos >= this.text.length) {
      this.atEOF = true
      return undefined
    }
    const cp = this.text.codePointAt(this.pos)!
    const ch = String.fromCodePoint(cp)
    this.pos += ch.length
    if (ch === "\n") this.line++
    return ch
  }

  peek(): string | undefined {
    const r = this.next()
    this.backup()
    return r
  }

  backup(): void {
    if (!this.atEOF && this.pos > 0) {
      const c = this.text.charCodeAt(this.pos - 1)
      const w = c >= 0xdc00 && c <= 0xdfff && this.pos >= 2 ? 2 : 1
      this.pos -= w
      if (c === 10) this.line--
    }
  }

  thisItem(t: ItemType): Item {
    const i: Item = {
      typ: t,
      pos: this.start,
      val: this.text.slice(this.start, this.pos),
      line: this.startLine
    }
    this.start = this.pos
    this.startLine = this.line
    return i
  }

  emit(t: ItemType): StateFn {
    return this.emitItem(this.thisItem(t))
  }

  emitItem(i: Item): StateFn {
    this.item = i
    return null
  }

  ignore(): void {
    this.line += countNewlines(this.text, this.start, this.pos)
    this.start = this.pos
    this.startLine = this.line
  }

  accept(valid: string): boolean {
    const r = this.next()
    if (r !== undefined && valid.includes(r)) return true
    this.backup()
    return false
  }

  acceptRun(valid: string): void {
    for (;;) {
      const r = this.next()
      if (r === undefined || !valid.includes(r)) break
    }
    this.backup()
  }

  errorf(message: string): StateFn {
    this.item = { typ: ItemType.Error, pos: this.start, val: message, line: this.startLine }
    this.start = 0
    this.pos = 0
    this.text = ""
    return null
  }

  nextItem(): Item {
    this.item = { typ: ItemType.EOF, pos: this.pos, val: "EOF", line: this.startLine }
    let state: StateFn = this.insideAction ? lexInsideAction : lexText
    while (state !== null) state = state(this)
    return this.item
  }

  get rest(): string {
    return this.text
  }

  atRightDelim(): [boolean, boolean] {
    const t = this.text
    if (hasRightTrimMarker(t, this.pos) && t.startsWith(rightDelim, this.pos + 2)) return [true, true]
    if (t.startsWith(rightDelim, this.pos)) return [true, false]
    return [false, false]
  }

  atTerminator(): boolean {
    const r = this.peek()
    if (isSpace(r)) return true
    switch (r) {
      case undefined:
      case ".":
      case ",":
      case "|":
      case ":":
      case ")":
      case "(":
        return true
    }
    return this.text.startsWith(rightDelim, this.pos)
  }

  scanNumber(): boolean {
    this.accept("+-")
    let digits = "0123456789_"
    if (this.accept("0")) {
      if (this.accept("xX")) digits = "0123456789abcdefABCDEF_"
      else if (this.accept("oO")) digits = "01234567_"
      else if (this.accept("bB")) digits = "01_"
    }
    this.acceptRun(digits)
    if (this.accept(".")) this.acceptRun(digits)
    if (digits.length === 11 && this.accept("eE")) {
      this.accept("+-")
      this.acceptRun("0123456789_")
    }
    if (digits.length === 23 && this.accept("pP")) {
      this.accept("+-")
      this.acceptRun("0123456789_")
    }
    this.accept("i")
    if (isAlphaNumeric(this.peek())) {
      this.next()
      return false
    }
    return true
  }
}

const lexText = (l: Lexer): StateFn => {
  const t = l.rest
  const x = t.indexOf(leftDelim, l.pos)
  if (x >= 0) {
    if (x > l.pos) {
      l.pos = x
      let trimLength = 0
      const delimEnd = l.pos + leftDelim.length
      if (hasLeftTrimMarker(t, delimEnd)) trimLength = trimRightLength(t.slice(l.start, l.pos))
      l.pos -= trimLength
      l.line += countNewlines(t, l.start, l.pos)
      const i = l.thisItem(ItemType.Text)
      l.pos += trimLength
      l.ignore()
      if (i.val.length > 0) return l.emitItem(i)
    }
    return lexLeftDelim
  }
  l.pos = t.length
  if (l.pos > l.start) {
    l.line += countNewlines(t, l.start, l.pos)
    return l.emit(ItemType.Text)
  }
  return l.emit(ItemType.EOF)
}

const lexLeftDelim = (l: Lexer): StateFn => {
  const t = l.rest
  l.pos += leftDelim.length
  const trimSpace = hasLeftTrimMarker(t, l.pos)
  const afterMarker = trimSpace ? 2 : 0
  if (t.startsWith(leftComment, l.pos + afterMarker)) {
    l.pos += afterMarker
    l.ignore()
    return lexComment
  }
  const i = l.thisItem(ItemType.LeftDelim)
  l.insideAction = true
  l.pos += afterMarker
  l.ignore()
  l.parenDepth = 0
  return l.emitItem(i)
}

const lexComment = (l: Lexer): StateFn => {
  const t = l.rest
  l.pos += leftComment.length
  const x = t.indexOf(rightComment, l.pos)
  if (x < 0) return l.errorf("unclosed comment")
  l.pos = x + rightComment.length
  const [delim, trimSpace] = l.atRightDelim()
  if (!delim) return l.errorf("comment ends before closing delimiter")
  l.line += countNewlines(t, l.start, l.pos)
  l.start = l.pos
  l.startLine = l.line
  if (trimSpace) l.pos += 2
  l.pos += rightDelim.length
  if (trimSpace) l.pos += trimLeftLength(t.slice(l.pos))
  l.ignore()
  return lexText
}

const lexRightDelim = (l: Lexer): StateFn => {
  const [, trimSpace] = l.atRightDelim()
  if (trimSpace) {
    l.pos += 2
    l.ignore()
  }
  l.pos += rightDelim.length
  const i = l.thisItem(ItemType.RightDelim)
  if (trimSpace) {
    l.pos += trimLeftLength(l.rest.slice(l.pos))
    l.ignore()
  }
  l.insideAction = false
  return l.emitItem(i)
}

const lexInsideAction = (l: Lexer): StateFn => {
  const [delim] = l.atRightDelim()
  if (delim) {
    if (l.parenDepth === 0) return lexRightDelim
    return l.errorf("unclosed left paren")
  }
  const r = l.next()
  if (r === undefined) return l.errorf("unclosed action")
  if (isSpace(r)) {
    l.backup()
    return lexSpace
  }
  switch (r) {
    case "=":
      return l.emit(ItemType.Assign)
    case ":":
      if (l.next() !== "=") return l.errorf("expected :=")
      return l.emit(ItemType.Declare)
    case "|":
      return l.emit(ItemType.Pipe)
    case '"':
      return lexQuote
    case "`":
      return lexRawQuote
    case "$":
      return lexVariable
    case "'":
      return lexChar
    case "(":
      l.parenDepth++
      return l.emit(ItemType.LeftParen)
    case ")":
      l.parenDepth--
      if (l.parenDepth < 0) return l.errorf("unexpected right paren")
      return l.emit(ItemType.RightParen)
  }
  if (r === ".") {
    const c = l.rest[l.pos]
    if (l.pos < l.rest.length && (c! < "0" || c! > "9")) return lexField
    l.backup()
    return lexNumber
  }
  if (r === "+" || r === "-" || (r >= "0" && r <= "9")) {
    l.backup()
    return lexNumber
  }
  if (isAlphaNumeric(r)) {
    l.backup()
    return lexIdentifier
  }
  const cp = r.codePointAt(0)!
  if (cp <= 0x7f && cp >= 0x20 && cp !== 0x7f) return l.emit(ItemType.Char)
  return l.errorf(`unrecognized character in action: ${formatSharpU(cp)}`)
}

const lexSpace = (l: Lexer): StateFn => {
  let numSpaces = 0
  for (;;) {
    const r = l.peek()
    if (!isSpace(r)) break
    l.next()
    numSpaces++
  }
  const t = l.rest
  if (hasRightTrimMarker(t, l.pos - 1) && t.startsWith(rightDelim, l.pos - 1 + 2)) {
    l.backup()
    if (numSpaces === 1) return lexRightDelim
  }
  return l.emit(ItemType.Space)
}

const lexIdentifier = (l: Lexer): StateFn => {
  for (;;) {
    const r = l.next()
    if (isAlphaNumeric(r)) continue
    l.backup()
    const word = l.rest.slice(l.start, l.pos)
    if (!l.atTerminator())
      return l.errorf(`bad character ${formatSharpU(r === undefined ? -1 : r.codePointAt(0)!)}`)
    const k = keywords[word]
    if (k !== undefined && k > ItemType.Keyword) {
      if ((k === ItemType.Break && !l.breakOK) || (k === ItemType.Continue && !l.continueOK))
        return l.emit(ItemType.Identifier)
      return l.emit(k)
    }
    if (word[0] === ".") return l.emit(ItemType.Field)
    if (word === "true" || word === "false") return l.emit(ItemType.Bool)
    return l.emit(ItemType.Identifier)
  }
}

const lexFieldOrVariable = (l: Lexer, typ: ItemType): StateFn => {
  if (l.atTerminator()) {
    if (typ === ItemType.Variable) return l.emit(ItemType.Variable)
    return l.emit(ItemType.Dot)
  }
  let r: string | undefined
  for (;;) {
    r = l.next()
    if (!isAlphaNumeric(r)) {
      l.backup()
      break
    }
  }
  if (!l.atTerminator())
    return l.errorf(`bad character ${formatSharpU(r === undefined ? -1 : r.codePointAt(0)!)}`)
  return l.emit(typ)
}

const lexField = (l: Lexer): StateFn => lexFieldOrVariable(l, ItemType.Field)

const lexVariable = (l: Lexer): StateFn => {
  if (l.atTerminator()) return l.emit(ItemType.Variable)
  return lexFieldOrVariable(l, ItemType.Variable)
}

const lexChar = (l: Lexer): StateFn => {
  for (;;) {
    const r = l.next()
    if (r === "\\") {
      const e = l.next()
      if (e !== undefined && e !== "\n") continue
      return l.errorf("unterminated character constant")
    }
    if (r === undefined || r === "\n") return l.errorf("unterminated character constant")
    if (r === "'") break
  }
  return l.emit(ItemType.CharConstant)
}

const lexNumber = (l: Lexer): StateFn => {
  if (!l.scanNumber()) return l.errorf(`bad number syntax: ${quote(l.rest.slice(l.start, l.pos))}`)
  const sign = l.peek()
  if (sign === "+" || sign === "-") {
    if (!l.scanNumber() || l.rest[l.pos - 1] !== "i")
      return l.errorf(`bad number syntax: ${quote(l.rest.slice(l.start, l.pos))}`)
    return l.emit(ItemType.Complex)
  }
  return l.emit(ItemType.Number)
}

const lexQuote = (l: Lexer): StateFn => {
  for (;;) {
    const r = l.next()
    if (r === "\\") {
      const e = l.next()
      if (e !== undefined && e !== "\n") continue
      return l.errorf("unterminated quoted string")
    }
    if (r === undefined || r === "\n") return l.errorf("unterminated quoted string")
    if (r === '"') break
  }
  return l.emit(ItemType.String)
}

const lexRawQuote = (l: Lexer): StateFn => {
  for (;;) {
    const r = l.next()
    if (r === undefined) return l.errorf("unterminated raw quoted string")
    if (r === "`") break
  }
  return l.emit(ItemType.RawString)
}

// ---------------------------------------------------------------------------------------------------------------
// Nodes

export interface Tree {
  name: string
  /** The name of the top-level template, for error locations. */
  readonly parseName: string
  readonly text: string
  root: ListNode | undefined
}

interface Base {
  readonly pos: number
  readonly tree: Tree
}

export interface ListNode extends Base {
  readonly type: "list"
  readonly nodes: Array<Node>
}
export interface TextNode extends Base {
  readonly type: "text"
  readonly text: string
}
export interface CommentNode extends Base {
  readonly type: "comment"
  readonly text: string
}
export interface PipeNode extends Base {
  readonly type: "pipe"
  isAssign: boolean
  readonly decl: Array<VariableNode>
  readonly cmds: Array<CommandNode>
}
export interface ActionNode extends Base {
  readonly type: "action"
  readonly pipe: PipeNode
}
export interface CommandNode extends Base {
  readonly type: "command"
  readonly args: Array<Node>
}
export interface IdentifierNode extends Base {
  readonly type: "identifier"
  readonly ident: string
}
export interface VariableNode extends Base {
  readonly type: "variable"
  readonly ident: ReadonlyArray<string>
}
export interface DotNode extends Base {
  readonly type: "dot"
}
export interface NilNode extends Base {
  readonly type: "nil"
}
export interface FieldNode extends Base {
  readonly type: "field"
  readonly ident: ReadonlyArray<string>
}
export interface ChainNode extends Base {
  readonly type: "chain"
  readonly node: Node
  readonly field: Array<string>
}
export interface BoolNode extends Base {
  readonly type: "bool"
  readonly value: boolean
}
export interface NumberNode extends Base {
  readonly type: "number"
  readonly text: string
  readonly isInt: boolean
  readonly isUint: boolean
  readonly isFloat: boolean
  readonly isComplex: boolean
  readonly int64: bigint
  readonly uint64: bigint
  readonly float64: number
  readonly complex: readonly [number, number]
}
export interface StringNode extends Base {
  readonly type: "string"
  readonly quoted: string
  readonly text: string
}
export interface EndNode extends Base {
  readonly type: "end"
}
export interface ElseNode extends Base {
  readonly type: "else"
}
export interface BranchNode extends Base {
  readonly type: "if" | "range" | "with"
  readonly pipe: PipeNode
  readonly list: ListNode
  readonly elseList: ListNode | undefined
}
export interface BreakNode extends Base {
  readonly type: "break"
}
export interface ContinueNode extends Base {
  readonly type: "continue"
}
export interface TemplateNode extends Base {
  readonly type: "template"
  readonly name: string
  readonly pipe: PipeNode | undefined
}

export type Node =
  | ListNode
  | TextNode
  | CommentNode
  | PipeNode
  | ActionNode
  | CommandNode
  | IdentifierNode
  | VariableNode
  | DotNode
  | NilNode
  | FieldNode
  | ChainNode
  | BoolNode
  | NumberNode
  | StringNode
  | EndNode
  | ElseNode
  | BranchNode
  | BreakNode
  | ContinueNode
  | TemplateNode

/** Go's Node.String(): the node's source form, as exec errors quote it. */
export const nodeString = (n: Node): string => {
  switch (n.type) {
    case "list":
      return n.nodes.map(nodeString).join("")
    case "text":
      return n.text
    case "comment":
      return `{{${n.text}}}`
    case "pipe": {
      let s = ""
      if (n.decl.length > 0) {
        s += n.decl.map(nodeString).join(", ")
        s += n.isAssign ? " = " : " := "
      }
      return s + n.cmds.map(nodeString).join(" | ")
    }
    case "action":
      return `{{${nodeString(n.pipe)}}}`
    case "command":
      return n.args.map((a) => (a.type === "pipe" ? `(${nodeString(a)})` : nodeString(a))).join(" ")
    case "identifier":
      return n.ident
    case "variable":
      return n.ident.join(".")
    case "dot":
      return "."
    case "nil":
      return "nil"
    case "field":
      return n.ident.map((i) => `.${i}`).join("")
    case "chain":
      return (
        (n.node.type === "pipe" ? `(${nodeString(n.node)})` : nodeString(n.node)) +
        n.field.map((f) => `.${f}`).join("")
      )
    case "bool":
      return n.value ? "true" : "false"
    case "number":
      return n.text
    case "string":
      return n.quoted
    case "end":
      return "{{end}}"
    case "else":
      return "{{else}}"
    case "if":
    case "range":
    case "with": {
      let s = `{{${n.type} ${nodeString(n.pipe)}}}${nodeString(n.list)}`
      if (n.elseList !== undefined) s += `{{else}}${nodeString(n.elseList)}`
      return `${s}{{end}}`
    }
    case "break":
      return "{{break}}"
    case "continue":
      return "{{continue}}"
    case "template":
      return `{{template ${quote(n.name)}${n.pipe === undefined ? "" : ` ${nodeString(n.pipe)}`}}}`
  }
}

/** The line and Go byte column (0-based, as Go's messages show it) of a position in a tree's text. */
export const location = (
  text: string,
  pos: number
): { readonly line: number; readonly byteColumn: number } => {
  const before = text.slice(0, pos)
  const nl = before.lastIndexOf("\n")
  const lineText = nl === -1 ? before : before.slice(nl + 1)
  return {
    line: 1 + countNewlines(before, 0, before.length),
    byteColumn: new TextEncoder().encode(lineText).length
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parser

/** A parse failure, with Go's message (`template: name:line: reason`). */
export class ParseFailure extends Error {
  readonly templateName: string
  readonly line: number
  readonly column: number | undefined
  readonly reason: string
  constructor(templateName: string, line: number, reason: string, column?: number) {
    super(`template: ${templateName}:${line}: ${reason}`)
    this.templateName = templateName
    this.line = line
    this.column = column
    this.reason = reason
  }
}

const maxStackDepth = 10000

/** The set of trees one parse produces: the top-level template and every `define`/`block`. */
export type TreeSet = Map<string, Tree>

/** Tells the parser which identifiers are functions, and which to refuse with a reason of their own. */
export interface FunctionCheck {
  readonly has: (name: string) => boolean
  /** A reason to refuse a function the parser otherwise knows (a Sprig function nth does not implement). */
  readonly refuse?: ((name: string) => string | undefined) | undefined
}

const isEmptyTree = (n: Node | undefined): boolean => {
  if (n === undefined) return true
  switch (n.type) {
    case "comment":
      return true
    case "list":
      return n.nodes.every(isEmptyTree)
    case "text":
      return [...n.text].every((c) => isGoSpace(c.codePointAt(0)!))
    default:
      return false
  }
}

class Parser {
  tree: Tree
  lex: Lexer
  token: [Item, Item, Item]
  peekCount = 0
  vars: Array<string> = ["$"]
  readonly treeSet: TreeSet
  readonly funcs: FunctionCheck
  actionLine = 0
  rangeDepth = 0
  stackDepth = 0

  constructor(tree: Tree, lex: Lexer, treeSet: TreeSet, funcs: FunctionCheck) {
    this.tree = tree
    this.lex = lex
    this.treeSet = treeSet
    this.funcs = funcs
    const eof: Item = { typ: ItemType.EOF, pos: 0, val: "", line: 1 }
    this.token = [eof, eof, eof]
  }

  next(): Item {
    if (this.peekCount > 0) this.peekCount--
    else this.token[0] = this.lex.nextItem()
    return this.token[this.peekCount]!
  }
  backup(): void {
    this.peekCount++
  }
  backup2(t1: Item): void {
    this.token[1] = t1
    this.peekCount = 2
  }
  backup3(t2: Item, t1: Item): void {
    this.token[1] = t1
    this.token[2] = t2
    this.peekCount = 3
  }
  peek(): Item {
    if (this.peekCount > 0) return this.token[this.peekCount - 1]!
    this.peekCount = 1
    this.token[0] = this.lex.nextItem()
    return this.token[0]
  }
  nextNonSpace(): Item {
    let token: Item
    do token = this.next()
    while (token.typ === ItemType.Space)
    return token
  }
  peekNonSpace(): Item {
    const token = this.nextNonSpace()
    this.backup()
    return token
  }

  errorf(reason: string, pos?: number): never {
    this.tree.root = undefined
    const column = pos === undefined ? undefined : location(this.tree.text, pos).byteColumn + 1
    throw new ParseFailure(this.tree.parseName, this.token[0].line, reason, column)
  }

  expect(expected: ItemType, context: string): Item {
    const token = this.nextNonSpace()
    if (token.typ !== expected) this.unexpected(token, context)
    return token
  }

  expectOneOf(e1: ItemType, e2: ItemType, context: string): Item {
    const token = this.nextNonSpace()
    if (token.typ !== e1 && token.typ !== e2) this.unexpected(token, context)
    return token
  }

  unexpected(token: Item, context: string): never {
    if (token.typ === ItemType.Error) {
      let extra = ""
      if (this.actionLine !== 0 && this.actionLine !== token.line) {
        extra = ` in action started at ${this.tree.parseName}:${this.actionLine}`
        if (token.val.endsWith(" action")) extra = extra.slice(" in action".length)
      }
      this.errorf(`${itemString(token)}${extra}`, token.pos)
    }
    this.errorf(`unexpected ${itemString(token)} in ${context}`, token.pos)
  }

  add(): void {
    const existing = this.treeSet.get(this.tree.name)
    if (existing === undefined || isEmptyTree(existing.root)) {
      this.treeSet.set(this.tree.name, this.tree)
      return
    }
    if (!isEmptyTree(this.tree.root))
      this.errorf(`template: multiple definition of template ${quote(this.tree.name)}`)
  }

  // A parser for a nested definition, sharing the lexer and token state.
  nested(name: string): Parser {
    const p = new Parser(
      { name, parseName: this.tree.parseName, text: this.tree.text, root: undefined },
      this.lex,
      this.treeSet,
      this.funcs
    )
    return p
  }

  parse(): void {
    this.tree.root = this.newList(this.peek().pos)
    while (this.peek().typ !== ItemType.EOF) {
      if (this.peek().typ === ItemType.LeftDelim) {
        const delim = this.next()
        if (this.nextNonSpace().typ === ItemType.Define) {
          this.nested("definition").parseDefinition()
          continue
        }
        this.backup2(delim)
      }
      const n = this.textOrAction()
      if (n.type === "end" || n.type === "else") this.errorf(`unexpected ${nodeString(n)}`, n.pos)
      else this.tree.root.nodes.push(n)
    }
  }

  parseDefinition(): void {
    const context = "define clause"
    const name = this.expectOneOf(ItemType.String, ItemType.RawString, context)
    try {
      this.tree.name = unquote(name.val)
    } catch (e) {
      this.errorf((e as Error).message, name.pos)
    }
    this.expect(ItemType.RightDelim, context)
    const [list, end] = this.itemList()
    this.tree.root = list
    if (end.type !== "end") this.errorf(`unexpected ${nodeString(end)} in ${context}`, end.pos)
    this.add()
  }

  itemList(): [ListNode, Node] {
    const list = this.newList(this.peekNonSpace().pos)
    while (this.peekNonSpace().typ !== ItemType.EOF) {
      const n = this.textOrAction()
      if (n.type === "end" || n.type === "else") return [list, n]
      list.nodes.push(n)
    }
    this.errorf("unexpected EOF")
  }

  textOrAction(): Node {
    const token = this.nextNonSpace()
    switch (token.typ) {
      case ItemType.Text:
        return { type: "text", pos: token.pos, tree: this.tree, text: token.val }
      case ItemType.LeftDelim: {
        this.actionLine = token.line
        try {
          return this.action()
        } finally {
          this.actionLine = 0
        }
      }
      case ItemType.Comment:
        return { type: "comment", pos: token.pos, tree: this.tree, text: token.val }
      default:
        this.unexpected(token, "input")
    }
  }

  action(): Node {
    const token = this.nextNonSpace()
    switch (token.typ) {
      case ItemType.Block:
        return this.blockControl()
      case ItemType.Break:
        return this.breakControl(token.pos)
      case ItemType.Continue:
        return this.continueControl(token.pos)
      case ItemType.Else:
        return this.elseControl()
      case ItemType.End:
        return this.endControl()
      case ItemType.If:
        return this.branch("if")
      case ItemType.Range:
        return this.branch("range")
      case ItemType.Template:
        return this.templateControl()
      case ItemType.With:
        return this.branch("with")
    }
    this.backup()
    const t = this.peek()
    return {
      type: "action",
      pos: t.pos,
      tree: this.tree,
      pipe: this.pipeline("command", ItemType.RightDelim)
    }
  }

  breakControl(pos: number): Node {
    const token = this.nextNonSpace()
    if (token.typ !== ItemType.RightDelim) this.unexpected(token, "{{break}}")
    if (this.rangeDepth === 0) this.errorf("{{break}} outside {{range}}", pos)
    return { type: "break", pos, tree: this.tree }
  }

  continueControl(pos: number): Node {
    const token = this.nextNonSpace()
    if (token.typ !== ItemType.RightDelim) this.unexpected(token, "{{continue}}")
    if (this.rangeDepth === 0) this.errorf("{{continue}} outside {{range}}", pos)
    return { type: "continue", pos, tree: this.tree }
  }

  pipeline(context: string, end: ItemType): PipeNode {
    const token = this.peekNonSpace()
    const pipe: PipeNode = {
      type: "pipe",
      pos: token.pos,
      tree: this.tree,
      isAssign: false,
      decl: [],
      cmds: []
    }
    for (;;) {
      const v = this.peekNonSpace()
      if (v.typ === ItemType.Variable) {
        this.next()
        const tokenAfterVariable = this.peek()
        const next = this.peekNonSpace()
        if (next.typ === ItemType.Assign || next.typ === ItemType.Declare) {
          pipe.isAssign = next.typ === ItemType.Assign
          this.nextNonSpace()
          pipe.decl.push(this.newVariable(v.pos, v.val))
          this.vars.push(v.val)
        } else if (next.typ === ItemType.Char && next.val === ",") {
          this.nextNonSpace()
          pipe.decl.push(this.newVariable(v.pos, v.val))
          this.vars.push(v.val)
          if (context === "range" && pipe.decl.length < 2) {
            const p = this.peekNonSpace().typ
            if (p === ItemType.Variable || p === ItemType.RightDelim || p === ItemType.RightParen) continue
            this.errorf("range can only initialize variables")
          }
          this.errorf(`too many declarations in ${context}`)
        } else if (tokenAfterVariable.typ === ItemType.Space) {
          this.backup3(v, tokenAfterVariable)
        } else {
          this.backup2(v)
        }
      }
      break
    }
    for (;;) {
      const token = this.nextNonSpace()
      switch (token.typ) {
        case end:
          this.checkPipeline(pipe, context)
          return pipe
        case ItemType.Bool:
        case ItemType.CharConstant:
        case ItemType.Complex:
        case ItemType.Dot:
        case ItemType.Field:
        case ItemType.Identifier:
        case ItemType.Number:
        case ItemType.Nil:
        case ItemType.RawString:
        case ItemType.String:
        case ItemType.Variable:
        case ItemType.LeftParen:
          this.backup()
          pipe.cmds.push(this.command())
          break
        default:
          this.unexpected(token, context)
      }
    }
  }

  checkPipeline(pipe: PipeNode, context: string): void {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`, pipe.pos)
    pipe.cmds.slice(1).forEach((c, i) => {
      const t = c.args[0]!.type
      if (t === "bool" || t === "dot" || t === "nil" || t === "number" || t === "string")
        this.errorf(`non executable command in pipeline stage ${i + 2}`, c.pos)
    })
  }

  branch(context: "if" | "range" | "with"): BranchNode {
    const mark = this.vars.length
    try {
      const pipe = this.pipeline(context, ItemType.RightDelim)
      if (context === "range") this.rangeDepth++
      let [list, next] = this.itemList()
      if (context === "range") this.rangeDepth--
      let elseList: ListNode | undefined
      if (next.type === "else") {
        if (context === "if" && this.peek().typ === ItemType.If) {
          this.next()
          elseList = this.newList(next.pos)
          elseList.nodes.push(this.branch("if"))
        } else if (context === "with" && this.peek().typ === ItemType.With) {
          this.next()
          elseList = this.newList(next.pos)
          elseList.nodes.push(this.branch("with"))
        } else {
          ;[elseList, next] = this.itemList()
          if (next.type !== "end") this.errorf(`expected end; found ${nodeString(next)}`, next.pos)
        }
      }
      list = list as ListNode
      return { type: context, pos: pipe.pos, tree: this.tree, pipe, list, elseList }
    } finally {
      this.vars.length = mark
    }
  }

  endControl(): Node {
    return { type: "end", pos: this.expect(ItemType.RightDelim, "end").pos, tree: this.tree }
  }

  elseControl(): Node {
    const peek = this.peekNonSpace()
    if (peek.typ === ItemType.If || peek.typ === ItemType.With)
      return { type: "else", pos: peek.pos, tree: this.tree }
    const token = this.expect(ItemType.RightDelim, "else")
    return { type: "else", pos: token.pos, tree: this.tree }
  }

  blockControl(): Node {
    const context = "block clause"
    const token = this.nextNonSpace()
    const name = this.parseTemplateName(token, context)
    const pipe = this.pipeline(context, ItemType.RightDelim)
    const block = this.nested(name)
    const [list, end] = block.itemList()
    block.tree.root = list
    if (end.type !== "end") this.errorf(`unexpected ${nodeString(end)} in ${context}`, end.pos)
    block.add()
    return { type: "template", pos: token.pos, tree: this.tree, name, pipe }
  }

  templateControl(): Node {
    const context = "template clause"
    const token = this.nextNonSpace()
    const name = this.parseTemplateName(token, context)
    let pipe: PipeNode | undefined
    if (this.nextNonSpace().typ !== ItemType.RightDelim) {
      this.backup()
      pipe = this.pipeline(context, ItemType.RightDelim)
    }
    return { type: "template", pos: token.pos, tree: this.tree, name, pipe }
  }

  parseTemplateName(token: Item, context: string): string {
    if (token.typ === ItemType.String || token.typ === ItemType.RawString) {
      try {
        return unquote(token.val)
      } catch (e) {
        this.errorf((e as Error).message, token.pos)
      }
    }
    this.unexpected(token, context)
  }

  command(): CommandNode {
    const cmd: CommandNode = { type: "command", pos: this.peekNonSpace().pos, tree: this.tree, args: [] }
    for (;;) {
      this.peekNonSpace()
      const operand = this.operand()
      if (operand !== undefined) cmd.args.push(operand)
      const token = this.next()
      if (token.typ === ItemType.Space) continue
      if (token.typ === ItemType.RightDelim || token.typ === ItemType.RightParen) this.backup()
      else if (token.typ !== ItemType.Pipe) this.unexpected(token, "operand")
      break
    }
    if (cmd.args.length === 0) this.errorf("empty command", cmd.pos)
    return cmd
  }

  operand(): Node | undefined {
    let node = this.term()
    if (node === undefined) return undefined
    if (this.peek().typ === ItemType.Field) {
      const chain: ChainNode = { type: "chain", pos: this.peek().pos, tree: this.tree, node, field: [] }
      while (this.peek().typ === ItemType.Field) chain.field.push(this.next().val.slice(1))
      switch (node.type) {
        case "field":
          node = this.newField(chain.pos, nodeString(chain))
          break
        case "variable":
          node = this.newVariable(chain.pos, nodeString(chain))
          break
        case "bool":
        case "string":
        case "number":
        case "nil":
        case "dot":
          this.errorf(`unexpected . after term ${quote(nodeString(node))}`, node.pos)
          break
        default:
          node = chain
      }
    }
    return node
  }

  term(): Node | undefined {
    const token = this.nextNonSpace()
    switch (token.typ) {
      case ItemType.Identifier: {
        const refused = this.funcs.refuse?.(token.val)
        if (refused !== undefined) this.errorf(refused, token.pos)
        if (!this.funcs.has(token.val)) this.errorf(`function ${quote(token.val)} not defined`, token.pos)
        return { type: "identifier", pos: token.pos, tree: this.tree, ident: token.val }
      }
      case ItemType.Dot:
        return { type: "dot", pos: token.pos, tree: this.tree }
      case ItemType.Nil:
        return { type: "nil", pos: token.pos, tree: this.tree }
      case ItemType.Variable:
        return this.useVar(token.pos, token.val)
      case ItemType.Field:
        return this.newField(token.pos, token.val)
      case ItemType.Bool:
        return { type: "bool", pos: token.pos, tree: this.tree, value: token.val === "true" }
      case ItemType.CharConstant:
      case ItemType.Complex:
      case ItemType.Number:
        return this.newNumber(token)
      case ItemType.LeftParen: {
        if (this.stackDepth >= maxStackDepth) this.errorf("max expression depth exceeded", token.pos)
        this.stackDepth++
        try {
          return this.pipeline("parenthesized pipeline", ItemType.RightParen)
        } finally {
          this.stackDepth--
        }
      }
      case ItemType.String:
      case ItemType.RawString: {
        let text: string
        try {
          text = unquote(token.val)
        } catch (e) {
          this.errorf((e as Error).message, token.pos)
        }
        return { type: "string", pos: token.pos, tree: this.tree, quoted: token.val, text }
      }
    }
    this.backup()
    return undefined
  }

  newList(pos: number): ListNode {
    return { type: "list", pos, tree: this.tree, nodes: [] }
  }

  newVariable(pos: number, ident: string): VariableNode {
    return { type: "variable", pos, tree: this.tree, ident: ident.split(".") }
  }

  newField(pos: number, ident: string): FieldNode {
    return { type: "field", pos, tree: this.tree, ident: ident.slice(1).split(".") }
  }

  useVar(pos: number, name: string): VariableNode {
    const v = this.newVariable(pos, name)
    if (this.vars.includes(v.ident[0]!)) return v
    this.errorf(`undefined variable ${quote(v.ident[0]!)}`, pos)
  }

  newNumber(token: Item): NumberNode {
    const text = token.val
    const base = {
      type: "number" as const,
      pos: token.pos,
      tree: this.tree,
      text,
      isInt: false,
      isUint: false,
      isFloat: false,
      isComplex: false,
      int64: 0n,
      uint64: 0n,
      float64: 0,
      complex: [0, 0] as const
    }
    if (token.typ === ItemType.CharConstant) {
      let r: number
      try {
        r = unquoteRune(text)
      } catch (e) {
        this.errorf((e as Error).message, token.pos)
      }
      return {
        ...base,
        isInt: true,
        isUint: true,
        isFloat: true,
        int64: BigInt(r),
        uint64: BigInt(r),
        float64: r
      }
    }
    const simplifyComplex = (re: number, im: number): NumberNode => {
      const n = { ...base, isComplex: true, complex: [re, im] as const }
      if (im !== 0) return n
      const isInt = Number.isInteger(re) && Math.abs(re) < 2 ** 63
      const isUint = Number.isInteger(re) && re >= 0 && re < 2 ** 64
      return {
        ...n,
        isFloat: true,
        float64: re,
        isInt,
        int64: isInt ? BigInt(re) : 0n,
        isUint,
        uint64: isUint ? BigInt(re) : 0n
      }
    }
    if (token.typ === ItemType.Complex) {
      const m = /^([+-]?[^+-]+(?:[eEpP][+-]?[0-9_]+)?)([+-].*)i$/.exec(text)
      const re = m === null ? undefined : parseFloat64(m[1]!)
      const im = m === null ? undefined : parseFloat64(m[2]!)
      if (re === undefined || im === undefined) this.errorf("expected integer", token.pos)
      return simplifyComplex(re, im)
    }
    if (text.endsWith("i")) {
      const f = parseFloat64(text.slice(0, -1))
      if (f !== undefined) return simplifyComplex(0, f)
    }
    let n: NumberNode = base
    const u = parseIntLiteral(text, true)
    if (u !== undefined) n = { ...n, isUint: true, uint64: u }
    const i = parseIntLiteral(text, false)
    if (i !== undefined) {
      n = { ...n, isInt: true, int64: i }
      if (i === 0n) n = { ...n, isUint: true, uint64: u ?? 0n }
    }
    if (n.isInt) n = { ...n, isFloat: true, float64: Number(n.int64) }
    else if (n.isUint) n = { ...n, isFloat: true, float64: Number(n.uint64) }
    else {
      const f = parseFloat64(text)
      if (f !== undefined) {
        if (!/[.eEpP]/.test(text)) this.errorf(`integer overflow: ${quote(text)}`, token.pos)
        n = { ...n, isFloat: true, float64: f }
        if (Number.isInteger(f) && f >= -(2 ** 63) && f < 2 ** 63) n = { ...n, isInt: true, int64: BigInt(f) }
        if (Number.isInteger(f) && f >= 0 && f < 2 ** 64) n = { ...n, isUint: true, uint64: BigInt(f) }
      }
    }
    if (!n.isInt && !n.isUint && !n.isFloat) this.errorf(`illegal number syntax: ${quote(text)}`, token.pos)
    return n
  }
}

/**
 * Parses a template's text into its trees (the top-level one under `name`, and one per `define`/`block`).
 * Throws a `ParseFailure` with Go's message.
 */
export const parse = (name: string, text: string, funcs: FunctionCheck): TreeSet => {
  const treeSet: TreeSet = new Map()
  const lex = new Lexer(text)
  lex.breakOK = !funcs.has("break")
  lex.continueOK = !funcs.has("continue")
  const p = new Parser({ name, parseName: name, text, root: undefined }, lex, treeSet, funcs)
  p.parse()
  p.add()
  return treeSet
}
