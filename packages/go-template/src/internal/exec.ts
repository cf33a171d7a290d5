/**
 * Go's text/template executor: walks the parsed trees over the data, evaluating pipelines, fields, methods and
 * function calls with Go's argument checks, and reports errors in Go's words and at Go's positions.
 *
 * @internal
 */
import { formatV, sprint } from "./fmt.ts"
import { checkElements, checkString } from "./limits.ts"
import {
  type BranchNode,
  type ChainNode,
  type CommandNode,
  type FieldNode,
  type IdentifierNode,
  location,
  type Node,
  type NumberNode,
  nodeString,
  type PipeNode,
  type TemplateNode,
  type TreeSet,
  type VariableNode
} from "./parse.ts"
import { byteLength, isUpper, quote } from "./strconv.ts"
import {
  annotate,
  assignable,
  canBeNil,
  findField,
  GoError,
  type GoFunc,
  GoNumber,
  type GoType,
  intOf,
  isComplexKind,
  isFloatKind,
  isIntKind,
  isTrue,
  isUintKind,
  makeNumber,
  methodOf,
  sortedEntries,
  T,
  typeOf,
  zeroOf
} from "./values.ts"

/** An execution failure, with Go's message. */
export class ExecFailure extends Error {
  readonly templateName: string
  readonly line: number | undefined
  readonly column: number | undefined
  readonly reason: string
  constructor(message: string, templateName: string, reason: string, line?: number, column?: number) {
    super(message)
    this.templateName = templateName
    this.line = line
    this.column = column
    this.reason = reason
  }
}

/**
 * A value read from a slot of static type `interface {}` (an element of a `[]interface {}` or
 * `map[string]interface {}`, a nil struct field): Go reports field errors on it against `interface {}`, and a
 * nil one as a nil pointer. Pipelines unwrap it, as Go's evalPipeline does.
 */
class IfaceSlot {
  readonly value: unknown
  constructor(value: unknown) {
    this.value = value
  }
}

const unwrap = (v: unknown): unknown => (v instanceof IfaceSlot ? v.value : v)

const isInterfaceElem = (container: unknown): boolean => {
  const t = typeOf(container)
  return t?.elem === undefined || t.elem.kind === "interface"
}

class BreakSignal {}
class ContinueSignal {}
const breakSignal = new BreakSignal()
const continueSignal = new ContinueSignal()

const MISSING: unique symbol = Symbol("missing")
type Final = unknown
/** A command's argument nodes, the first being the function, field or variable itself (Go's `args []parse.Node`). */
type ArgNodes = ReadonlyArray<Node> | undefined

/** What an execution can call. */
export interface Functions {
  /** The template's functions (Sprig's and the caller's), looked up first. */
  readonly funcs: ReadonlyMap<string, GoFunc>
  /** Go's builtins. */
  readonly builtins: ReadonlyMap<string, GoFunc>
}

const maxExecDepth = 100000

/** nth's budget for one execution (Go has none): steps (nodes walked, iterations, calls), output bytes, time. */
export interface Limits {
  readonly maxSteps: number
  readonly maxOutputBytes: number
  readonly timeoutMs: number
}

/** The default budget: far above what any webhook template needs, far below a frozen program. */
export const defaultLimits: Limits = {
  maxSteps: 10_000_000,
  maxOutputBytes: 10 * 1024 * 1024,
  timeoutMs: 2000
}

/** What the states of one execution share: its budget, and where the JavaScript stack ran out. */
class Execution {
  readonly limits: Limits
  readonly deadline: number
  steps = 0
  outputBytes = 0
  overflowNode: TemplateNode | undefined = undefined
  overflowState: State | undefined = undefined
  constructor(limits: Limits) {
    this.limits = limits
    this.deadline = performance.now() + limits.timeoutMs
  }
}

/** Whether `e` is the JavaScript stack running out (not another RangeError, such as an invalid string length). */
export const isStackOverflow = (e: unknown): boolean =>
  e instanceof RangeError && e.message.includes("call stack")

/** Boxes a function's JavaScript result into a Go value of its declared result type. */
export const boxResult = (v: unknown, t: GoType): unknown => {
  if (t.kind === "interface" || t === T.reflectValue) return v
  if (v === undefined || v === null) return canBeNil(t) ? zeroOf(t) : v
  if (isIntKind(t.kind) || isUintKind(t.kind) || isFloatKind(t.kind)) {
    if (v instanceof GoNumber && v[Symbol.for("@nth/go-template/type") as never] === t) return v
    if (typeof v === "number" || typeof v === "bigint") return makeNumber(t, v)
    if (v instanceof GoNumber) return makeNumber(t, v.value)
    return v
  }
  if ((t.kind === "slice" && Array.isArray(v)) || (t.kind === "map" && v instanceof Map)) {
    const current = typeOf(v)
    return current?.name === t.name ? v : annotate(v, t)
  }
  return v
}

const isHexInt = (s: string): boolean =>
  s.length > 2 && s[0] === "0" && (s[1] === "x" || s[1] === "X") && !/[pP]/.test(s)

class State {
  node: Node | undefined
  vars: Array<{ name: string; value: unknown }>
  readonly depth: number
  readonly tmplName: string
  readonly env: Functions
  readonly trees: TreeSet
  readonly run: Execution
  out: Array<string>

  constructor(
    run: Execution,
    env: Functions,
    trees: TreeSet,
    tmplName: string,
    out: Array<string>,
    depth: number,
    vars: Array<{ name: string; value: unknown }>
  ) {
    this.run = run
    this.env = env
    this.trees = trees
    this.tmplName = tmplName
    this.out = out
    this.depth = depth
    this.vars = vars
  }

  at(node: Node): void {
    this.node = node
  }

  errorf(reason: string): never {
    const node = this.node
    if (node === undefined)
      throw new ExecFailure(`template: ${this.tmplName}: ${reason}`, this.tmplName, reason)
    const { line, byteColumn } = location(node.tree.text, node.pos)
    const loc = `${node.tree.parseName}:${line}:${byteColumn}`
    throw new ExecFailure(
      `template: ${loc}: executing ${quote(this.tmplName)} at <${nodeString(node)}>: ${reason}`,
      node.tree.parseName,
      reason,
      line,
      byteColumn + 1
    )
  }

  /** Counts a step (at `node`) against the budget, and looks at the clock every 256 steps. */
  step(node: Node): void {
    const run = this.run
    if (++run.steps > run.limits.maxSteps) {
      this.at(node)
      this.errorf(`execution stopped: more than nth's limit of ${run.limits.maxSteps} steps`)
    }
    if ((run.steps & 0xff) === 0 && performance.now() > run.deadline) {
      this.at(node)
      this.errorf(`execution stopped: more than nth's time limit of ${run.limits.timeoutMs} ms`)
    }
  }

  /** Writes to the output, within the budget. */
  emit(text: string): void {
    const run = this.run
    run.outputBytes += byteLength(text)
    if (run.outputBytes > run.limits.maxOutputBytes)
      this.errorf(`execution stopped: output of more than nth's limit of ${run.limits.maxOutputBytes} bytes`)
    this.out.push(text)
  }

  mark(): number {
    return this.vars.length
  }
  pop(mark: number): void {
    this.vars.length = mark
  }
  push(name: string, value: unknown): void {
    this.vars.push({ name, value })
  }
  setVar(name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value
        return
      }
    }
    this.errorf(`undefined variable: ${name}`)
  }
  setTopVar(n: number, value: unknown): void {
    this.vars[this.vars.length - n]!.value = value
  }
  varValue(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) return this.vars[i]!.value
    }
    this.errorf(`undefined variable: ${name}`)
  }

  walk(dot: unknown, node: Node): void {
    this.at(node)
    // A list is only its nodes, each walked (and counted) in turn.
    if (node.type !== "list") this.step(node)
    switch (node.type) {
      case "action": {
        const val = this.evalPipeline(dot, node.pipe)
        if (node.pipe.decl.length === 0) this.printValue(node, val)
        return
      }
      case "comment":
        return
      case "if":
      case "with":
        this.walkIfOrWith(node, dot)
        return
      case "list":
        for (const n of node.nodes) this.walk(dot, n)
        return
      case "range":
        this.walkRange(dot, node)
        return
      case "template":
        this.walkTemplate(dot, node)
        return
      case "text":
        this.emit(node.text)
        return
      case "break":
        throw breakSignal
      case "continue":
        throw continueSignal
      default:
        this.errorf(`unknown node: ${nodeString(node)}`)
    }
  }

  walkIfOrWith(node: BranchNode, dot: unknown): void {
    const mark = this.mark()
    try {
      const val = this.evalPipeline(dot, node.pipe)
      const [truth, ok] = isTrue(val)
      if (!ok) this.errorf(`if/with can't use ${formatV(val)}`)
      if (truth) this.walk(node.type === "with" ? val : dot, node.list)
      else if (node.elseList !== undefined) this.walk(dot, node.elseList)
    } finally {
      this.pop(mark)
    }
  }

  walkRange(dot: unknown, r: BranchNode): void {
    this.at(r)
    const outer = this.mark()
    try {
      const val = this.evalPipeline(dot, r.pipe)
      const mark = this.mark()
      const decl = r.pipe.decl
      const oneIteration = (index: unknown, elem: unknown): void => {
        this.step(r)
        if (decl.length > 0) {
          if (r.pipe.isAssign) {
            if (decl.length > 1) this.setVar(decl[0]!.ident[0]!, index)
            else this.setVar(decl[0]!.ident[0]!, elem)
          } else this.setTopVar(1, elem)
        }
        if (decl.length > 1) {
          if (r.pipe.isAssign) this.setVar(decl[1]!.ident[0]!, elem)
          else this.setTopVar(2, index)
        }
        try {
          this.walk(elem, r.list)
        } catch (e) {
          if (e !== continueSignal) throw e
        } finally {
          this.pop(mark)
        }
      }
      const t = typeOf(val)
      const k = t?.kind
      let ran = false
      if (isIntKind(k) || isUintKind(k)) {
        if (decl.length > 1) this.errorf(`can't use ${formatV(val)} to iterate over more than one variable`)
        const n = intOf(val)
        for (let i = 0n; i < n; i++) {
          ran = true
          oneIteration(undefined, makeNumber(t!, i))
        }
      } else if (k === "slice" || k === "array") {
        const items = val as ReadonlyArray<unknown>
        const slot = isInterfaceElem(val)
        for (let i = 0; i < items.length; i++) {
          ran = true
          oneIteration(i, slot ? new IfaceSlot(items[i]) : items[i])
        }
      } else if (k === "map") {
        const slot = isInterfaceElem(val)
        for (const [key, value] of sortedEntries(val as ReadonlyMap<unknown, unknown>)) {
          ran = true
          oneIteration(key, slot ? new IfaceSlot(value) : value)
        }
      } else if (k !== undefined) {
        this.errorf(`range can't iterate over ${formatV(val)}`)
      }
      if (!ran && r.elseList !== undefined) this.walk(dot, r.elseList)
    } catch (e) {
      if (e !== breakSignal) throw e
    } finally {
      this.pop(outer)
    }
  }

  walkTemplate(dot: unknown, t: TemplateNode): void {
    this.at(t)
    const root = this.trees.get(t.name)?.root
    if (root === undefined) {
      this.errorf(`template ${quote(t.name)} not defined`)
    }
    if (this.depth === maxExecDepth) this.errorf(`exceeded maximum template depth (${maxExecDepth})`)
    const newDot = this.evalPipeline(dot, t.pipe)
    const s = new State(this.run, this.env, this.trees, t.name, this.out, this.depth + 1, [
      { name: "$", value: newDot }
    ])
    try {
      s.walk(newDot, root)
    } catch (e) {
      // The JavaScript stack ran out before Go's template depth would: remember the deepest invocation (no
      // calls here, the stack is exhausted) and report it as Go does once unwound.
      if (isStackOverflow(e) && this.run.overflowNode === undefined) {
        this.run.overflowNode = t
        this.run.overflowState = this
      }
      throw e
    }
  }

  evalPipeline(dot: unknown, pipe: PipeNode | undefined): unknown {
    if (pipe === undefined) return undefined
    this.at(pipe)
    let value: unknown = MISSING
    for (const cmd of pipe.cmds) value = unwrap(this.evalCommand(dot, cmd, value))
    for (const v of pipe.decl) {
      if (pipe.isAssign) this.setVar(v.ident[0]!, value)
      else this.push(v.ident[0]!, value)
    }
    return value
  }

  notAFunction(args: ReadonlyArray<Node>, final: Final): void {
    if (args.length > 1 || final !== MISSING)
      this.errorf(`can't give argument to non-function ${nodeString(args[0]!)}`)
  }

  evalCommand(dot: unknown, cmd: CommandNode, final: Final): unknown {
    const first = cmd.args[0]!
    switch (first.type) {
      case "field":
        return this.evalFieldNode(dot, first, cmd.args, final)
      case "chain":
        return this.evalChainNode(dot, first, cmd.args, final)
      case "identifier":
        return this.evalFunction(dot, first, cmd, cmd.args, final)
      case "pipe":
        this.notAFunction(cmd.args, final)
        return this.evalPipeline(dot, first)
      case "variable":
        return this.evalVariableNode(dot, first, cmd.args, final)
    }
    this.at(first)
    this.notAFunction(cmd.args, final)
    switch (first.type) {
      case "bool":
        return first.value
      case "dot":
        return dot
      case "nil":
        this.errorf("nil is not a command")
        break
      case "number":
        return this.idealConstant(first)
      case "string":
        return first.text
    }
    this.errorf(`can't evaluate command ${quote(nodeString(first))}`)
  }

  idealConstant(c: NumberNode): unknown {
    this.at(c)
    if (c.isComplex) return new GoNumber(T.complex128, c.complex as never)
    if (c.isFloat && !isHexInt(c.text) && c.text[0] !== "'" && /[.eEpP]/.test(c.text))
      return makeNumber(T.float64, c.float64)
    if (c.isInt) return makeNumber(T.int, c.int64)
    if (c.isUint) this.errorf(`${c.text} overflows int`)
    return undefined
  }

  evalFieldNode(dot: unknown, field: FieldNode, args: ArgNodes, final: Final): unknown {
    this.at(field)
    return this.evalFieldChain(dot, dot, field, field.ident, args, final)
  }

  evalChainNode(dot: unknown, chain: ChainNode, args: ArgNodes, final: Final): unknown {
    this.at(chain)
    if (chain.field.length === 0) this.errorf("internal error: no fields in evalChainNode")
    if (chain.node.type === "nil") this.errorf(`indirection through explicit nil in ${nodeString(chain)}`)
    const pipe = this.evalArg(dot, undefined, chain.node)
    return this.evalFieldChain(dot, pipe, chain, chain.field, args, final)
  }

  evalVariableNode(dot: unknown, variable: VariableNode, args: ArgNodes, final: Final): unknown {
    this.at(variable)
    const value = this.varValue(variable.ident[0]!)
    if (variable.ident.length === 1) {
      this.notAFunction(args ?? [variable], final)
      return value
    }
    return this.evalFieldChain(dot, value, variable, variable.ident.slice(1), args, final)
  }

  evalFieldChain(
    dot: unknown,
    receiver: unknown,
    node: Node,
    ident: ReadonlyArray<string>,
    args: ArgNodes,
    final: Final
  ): unknown {
    const n = ident.length
    for (let i = 0; i < n - 1; i++)
      receiver = this.evalField(dot, ident[i]!, node, undefined, MISSING, receiver)
    return this.evalField(dot, ident[n - 1]!, node, args, final, receiver)
  }

  findFunction(name: string): [GoFunc, boolean] | undefined {
    const f = this.env.funcs.get(name)
    if (f !== undefined) return [f, false]
    const b = this.env.builtins.get(name)
    if (b !== undefined) return [b, true]
    return undefined
  }

  evalFunction(dot: unknown, node: IdentifierNode, cmd: Node, args: ArgNodes, final: Final): unknown {
    this.at(node)
    const name = node.ident
    const found = this.findFunction(name)
    if (found === undefined) this.errorf(`${quote(name)} is not a defined function`)
    return this.evalCall(dot, found[0], found[1], cmd, name, args, final)
  }

  evalField(
    dot: unknown,
    fieldName: string,
    node: Node,
    args: ArgNodes,
    final: Final,
    receiver: unknown
  ): unknown {
    const iface = receiver instanceof IfaceSlot
    receiver = unwrap(receiver)
    if (receiver === undefined || receiver === null) {
      if (iface) this.errorf(`nil pointer evaluating interface {}.${fieldName}`)
      return undefined
    }
    const typ = typeOf(receiver)!
    const typName = iface ? "interface {}" : typ.name
    const method = methodOf(receiver, fieldName)
    if (method !== undefined) return this.evalCall(dot, method, false, node, fieldName, args, final)
    const hasArgs = (args?.length ?? 0) > 1 || final !== MISSING
    if (typ.kind === "struct") {
      const field = findField(receiver, fieldName)
      if (field !== undefined) {
        if (!isUpper(fieldName.codePointAt(0)!))
          this.errorf(`${fieldName} is an unexported field of struct type ${typName}`)
        if (hasArgs) this.errorf(`${fieldName} has arguments but cannot be invoked as function`)
        return field.value === null ? new IfaceSlot(null) : field.value
      }
    } else if (typ.kind === "map" && (typ.key === undefined || typ.key.kind === "string")) {
      if (hasArgs) this.errorf(`${fieldName} is not a method but has arguments`)
      const m = receiver as ReadonlyMap<unknown, unknown>
      if (!m.has(fieldName)) return undefined
      const v = m.get(fieldName)
      return isInterfaceElem(receiver) ? new IfaceSlot(v) : v
    }
    this.errorf(`can't evaluate field ${fieldName} in type ${typName}`)
  }

  evalCall(
    dot: unknown,
    fun: GoFunc,
    isBuiltin: boolean,
    node: Node,
    name: string,
    argNodes: ArgNodes,
    final: Final
  ): unknown {
    const args = argNodes === undefined ? [] : argNodes.slice(1)
    const params = fun.params
    let numIn = args.length
    if (final !== MISSING) numIn++
    let numFixed = args.length
    if (fun.variadic) {
      numFixed = params.length - 1
      if (numIn < numFixed)
        this.errorf(`wrong number of args for ${name}: want at least ${params.length - 1} got ${args.length}`)
    } else if (numIn !== params.length) {
      this.errorf(`wrong number of args for ${name}: want ${params.length} got ${numIn}`)
    }
    if (isBuiltin && (name === "and" || name === "or")) {
      const argType = params[0]!
      let v: unknown
      for (const arg of args) {
        v = this.evalArg(dot, argType, arg)
        if (isTrue(v)[0] === (name === "or")) return v
      }
      if (final !== MISSING) v = this.validateType(final, argType)
      return v
    }
    const argv: Array<unknown> = []
    let i = 0
    for (; i < numFixed && i < args.length; i++) argv[i] = this.evalArg(dot, params[i]!, args[i]!)
    if (fun.variadic) {
      const argType = params[params.length - 1]!.elem ?? T.any
      for (; i < args.length; i++) argv[i] = this.evalArg(dot, argType, args[i]!)
    }
    if (final !== MISSING) {
      let t = params[params.length - 1]!
      if (fun.variadic) {
        if (numIn - 1 < numFixed) t = params[numIn - 1]!
        else t = t.elem ?? T.any
      }
      argv[i] = this.validateType(final, t)
    }
    if (isBuiltin && name === "call") {
      const calleeName = args.length === 0 ? formatV(final) : nodeString(args[0]!)
      return this.callFunction(node, calleeName, argv)
    }
    this.step(node)
    let v: unknown
    try {
      v = fun.call(...argv)
      // nth's caps on what one call may build (limits.ts), for what the function could not check beforehand.
      if (typeof v === "string") checkString(v)
      else if (Array.isArray(v)) checkElements(v.length)
    } catch (e) {
      if (e instanceof ExecFailure) throw e
      this.at(node)
      this.errorf(`error calling ${name}: ${e instanceof Error ? e.message : String(e)}`)
    }
    return boxResult(v, fun.result)
  }

  // The `call` builtin: calls a function value with the remaining arguments.
  callFunction(node: Node, name: string, argv: ReadonlyArray<unknown>): unknown {
    const [fn, ...rest] = argv
    const fail = (reason: string): never => {
      this.at(node)
      this.errorf(`error calling call: ${reason}`)
    }
    if (fn === undefined || fn === null) fail("call of nil")
    if (typeof fn !== "function") fail(`non-function ${name} of type ${typeOf(fn)?.name}`)
    try {
      return (fn as (...a: Array<unknown>) => unknown)(...rest)
    } catch (e) {
      if (e instanceof ExecFailure) throw e
      return fail(e instanceof Error ? e.message : String(e))
    }
  }

  validateType(value: unknown, typ: GoType | undefined): unknown {
    value = unwrap(value)
    if (value === undefined || value === null) {
      if (typ === undefined) return undefined
      if (canBeNil(typ)) return zeroOf(typ)
      this.errorf(`invalid value; expected ${typ.name}`)
    }
    if (typ === undefined || typ === T.reflectValue) return value
    const vt = typeOf(value)!
    if (!assignable(vt, typ)) this.errorf(`wrong type for value; expected ${typ.name}; got ${vt.name}`)
    return value
  }

  evalArg(dot: unknown, typ: GoType | undefined, n: Node): unknown {
    this.at(n)
    switch (n.type) {
      case "dot":
        return this.validateType(dot, typ)
      case "nil":
        if (typ !== undefined && canBeNil(typ)) return zeroOf(typ)
        this.errorf(`cannot assign nil to ${typ?.name}`)
        break
      case "field":
        return this.validateType(this.evalFieldNode(dot, n, [n], MISSING), typ)
      case "variable":
        return this.validateType(this.evalVariableNode(dot, n, undefined, MISSING), typ)
      case "pipe":
        return this.validateType(this.evalPipeline(dot, n), typ)
      case "identifier":
        return this.validateType(this.evalFunction(dot, n, n, undefined, MISSING), typ)
      case "chain":
        return this.validateType(this.evalChainNode(dot, n, undefined, MISSING), typ)
    }
    const t = typ ?? T.any
    const k = t.kind
    if (k === "bool") {
      if (n.type === "bool") return n.value
      this.errorf(`expected bool; found ${nodeString(n)}`)
    }
    if (isComplexKind(k)) {
      if (n.type === "number" && n.isComplex) return new GoNumber(t, n.complex as never)
      this.errorf(`expected complex; found ${nodeString(n)}`)
    }
    if (isFloatKind(k)) {
      this.at(n)
      if (n.type === "number" && n.isFloat) return makeNumber(t, n.float64)
      this.errorf(`expected float; found ${nodeString(n)}`)
    }
    if (isIntKind(k)) {
      if (n.type === "number" && n.isInt) return makeNumber(t, n.int64)
      this.errorf(`expected integer; found ${nodeString(n)}`)
    }
    if ((k === "interface" && t.name === "interface {}") || t === T.reflectValue)
      return this.evalEmptyInterface(dot, n)
    if (k === "string") {
      if (n.type === "string") return n.text
      this.errorf(`expected string; found ${nodeString(n)}`)
    }
    if (isUintKind(k)) {
      if (n.type === "number" && n.isUint) return makeNumber(t, n.uint64)
      this.errorf(`expected unsigned integer; found ${nodeString(n)}`)
    }
    this.errorf(`can't handle ${nodeString(n)} for arg of type ${t.name}`)
  }

  evalEmptyInterface(dot: unknown, n: Node): unknown {
    this.at(n)
    switch (n.type) {
      case "bool":
        return n.value
      case "dot":
        return dot
      case "field":
        return unwrap(this.evalFieldNode(dot, n, undefined, MISSING))
      case "identifier":
        return this.evalFunction(dot, n, n, undefined, MISSING)
      case "nil":
        this.errorf("evalEmptyInterface: nil (can't happen)")
        break
      case "number":
        return this.idealConstant(n)
      case "string":
        return n.text
      case "variable":
        return unwrap(this.evalVariableNode(dot, n, undefined, MISSING))
      case "pipe":
        return this.evalPipeline(dot, n)
    }
    this.errorf(`can't handle assignment of ${nodeString(n)} to empty interface argument`)
  }

  printValue(node: Node, v: unknown): void {
    this.at(node)
    if (v === undefined || v === null) {
      this.emit("<no value>")
      return
    }
    const k = typeOf(v)?.kind
    if (k === "func" || k === "chan")
      this.errorf(`can't print ${nodeString(node)} of type ${typeOf(v)?.name}`)
    this.emit(sprint([v]))
  }
}

/**
 * Executes the named tree of a set over the data, within the budget; returns the output or throws an
 * `ExecFailure`.
 */
export const execute = (
  trees: TreeSet,
  name: string,
  data: unknown,
  env: Functions,
  limits: Limits = defaultLimits
): string => {
  const out: Array<string> = []
  const run = new Execution(limits)
  const s = new State(run, env, trees, name, out, 0, [{ name: "$", value: data }])
  const root = trees.get(name)?.root
  if (root === undefined) return s.errorf(`${quote(name)} is an incomplete or empty template`)
  try {
    s.walk(data, root)
  } catch (e) {
    if (e instanceof ExecFailure) throw e
    if (isStackOverflow(e)) {
      // Template calls nested deeper than the stack allows: Go's error at the deepest call, as for Go's limit.
      // Anything else nested that deep (if, with, range, printing a cyclic value): at the outermost node.
      const { overflowNode, overflowState } = run
      if (overflowNode !== undefined && overflowState !== undefined) {
        overflowState.node = overflowNode
        overflowState.errorf(`exceeded maximum template depth (${maxExecDepth})`)
      }
      s.errorf("too deeply nested: the JavaScript stack ran out")
    }
    if (e instanceof GoError) s.errorf(e.message)
    throw e
  }
  return out.join("")
}

export { MISSING }
