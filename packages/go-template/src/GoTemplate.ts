/**
 * Go's `text/template` with Sprig's text functions (`sprig.TxtFuncMap()`): parse a template once, then render
 * it over data, byte for byte as a Go program using `template.New(name).Funcs(sprig.TxtFuncMap()).Parse(src)`
 * would.
 *
 * Data is read as Go values:
 *
 * - `null`/`undefined`: nil; strings and booleans as they are
 * - numbers: an integer is an `int`, anything else a `float64` (`typed(3, "float64")` keeps a float64 that
 *   happens to be whole); a `bigint` is an `int64`
 * - arrays: slices (`[]interface {}` unless `typed`); `Map`s: maps (`map[string]interface {}` unless `typed`);
 *   a missing key gives `<no value>` as in Go
 * - plain objects: structs, whose fields must exist (`can't evaluate field X in type …`) and be exported
 *   (start with an upper-case letter); `struct(name, fields)` gives one a Go type name
 * - `GoTime.GoTime`: `time.Time`, with its methods (`.Format`, `.Unix`, `.Year`, …)
 *
 * @since 0.4.0
 */
import { Data, Effect } from "effect"
import { builtins } from "./internal/builtins.ts"
import { defaultLimits, ExecFailure, execute as executeTrees, isStackOverflow } from "./internal/exec.ts"
import { ParseFailure, parse as parseTrees, type TreeSet } from "./internal/parse.ts"
import { sprigFunctions, unimplemented } from "./internal/sprig.ts"
import {
  annotate,
  GoError,
  type GoFunc,
  makeNumber,
  nilOf as nilValue,
  parseType,
  sliceOf,
  T
} from "./internal/values.ts"

/**
 * A template that failed to parse or to execute. `message` is Go's own error text (`template: name:3: …` for
 * parse errors, `template: name:1:12: executing "name" at <.X>: …` for execution errors); `line` and `column`
 * (1-based; Go's message shows the column 0-based) locate the failure when known.
 *
 * @category errors
 * @since 0.4.0
 */
export class TemplateError extends Data.TaggedError("TemplateError")<{
  readonly phase: "parse" | "execute"
  /** The template's name. */
  readonly name: string
  readonly line: number | undefined
  readonly column: number | undefined
  /** The failure, without Go's location prefix. */
  readonly reason: string
  readonly message: string
}> {}

/**
 * A function callable from templates. It receives the arguments as Go values (see the module doc) and may
 * return any value; throwing makes the call fail as a Go function returning an error does
 * (`error calling name: <message>`).
 *
 * @category models
 * @since 0.4.0
 */
export type TemplateFunction = (...args: Array<never>) => unknown

/**
 * Parse options: the template's name (Go's `template.New(name)`, shown in errors; default `"template"`) and
 * extra functions (Go's `Funcs`), which may override Sprig's.
 *
 * @category models
 * @since 0.4.0
 */
export interface Options {
  readonly name?: string | undefined
  readonly functions?: Readonly<Record<string, TemplateFunction>> | undefined
}

/**
 * The budget of one execution, nth's and not Go's (Go has none), so that a template cannot freeze the program:
 * at most `maxSteps` steps (nodes walked, range iterations, function calls; default 10,000,000), `maxOutputBytes`
 * bytes of output (UTF-8; default 10 MiB), and `timeoutMs` milliseconds (default 2,000). An execution over budget
 * fails with a `TemplateError` naming the limit.
 *
 * @category models
 * @since 0.4.0
 */
export interface ExecuteOptions {
  readonly maxSteps?: number | undefined
  readonly maxOutputBytes?: number | undefined
  readonly timeoutMs?: number | undefined
}

/**
 * A parsed template, ready to execute over any data.
 *
 * @category models
 * @since 0.4.0
 */
export interface Template {
  readonly name: string
  readonly source: string
  /**
   * Renders the template over `data`, within the budget (`ExecuteOptions`); throws a `TemplateError` when Go's
   * execution would fail or the budget runs out, and never anything else.
   */
  readonly execute: (data: unknown, options?: ExecuteOptions) => string
}

/**
 * The Sprig functions nth does not implement (certificates, keys, encryption, password hashing, DNS and URL
 * helpers). A template that names one is refused when parsed, with
 * `function "x" is a Sprig function nth does not implement`.
 *
 * @category constants
 * @since 0.4.0
 */
export const unimplementedSprigFunctions: ReadonlyArray<string> = [...unimplemented].sort()

const userFunction = (name: string, f: TemplateFunction): GoFunc => ({
  name,
  params: [sliceOf(T.any)],
  variadic: true,
  result: T.any,
  call: f as (...args: Array<unknown>) => unknown
})

const fromParseFailure = (e: ParseFailure): TemplateError =>
  new TemplateError({
    phase: "parse",
    name: e.templateName,
    line: e.line,
    column: e.column,
    reason: e.reason,
    message: e.message
  })

/** A failure without a location: `template: name: reason`. */
const failure = (phase: "parse" | "execute", name: string, reason: string): TemplateError =>
  new TemplateError({
    phase,
    name,
    line: undefined,
    column: undefined,
    reason,
    message: `template: ${name}: ${reason}`
  })

const fromExecFailure = (e: ExecFailure): TemplateError =>
  new TemplateError({
    phase: "execute",
    name: e.templateName,
    line: e.line,
    column: e.column,
    reason: e.reason,
    message: e.message
  })

/**
 * Parses a template, with Go's builtins and Sprig's functions. Throws a `TemplateError` with Go's message when
 * the text is not a valid template, names an unknown function, or names a Sprig function nth does not
 * implement.
 *
 * @example
 * import { GoTemplate } from "@nth/go-template"
 *
 * const template = GoTemplate.parse(`{{ .Kind | upper }} on {{ .NodeName }}`, { name: "webhook" })
 * template.execute({ Kind: "spot", NodeName: "ip-10-0-0-1" }) // "SPOT on ip-10-0-0-1"
 *
 * @category parsing
 * @since 0.4.0
 */
export const parse = (source: string, options?: Options): Template => {
  const name = options?.name ?? "template"
  const funcs = new Map(sprigFunctions)
  const user = options?.functions ?? {}
  for (const [k, f] of Object.entries(user)) funcs.set(k, userFunction(k, f))
  let trees: TreeSet
  try {
    trees = parseTrees(name, source, {
      has: (n) => funcs.has(n) || builtins.has(n) || unimplemented.has(n),
      refuse: (n) =>
        unimplemented.has(n) && !Object.hasOwn(user, n)
          ? `function ${JSON.stringify(n)} is a Sprig function nth does not implement`
          : undefined
    })
  } catch (e) {
    if (e instanceof ParseFailure) throw fromParseFailure(e)
    // Nesting (of actions, or of parentheses below Go's limit of 10,000) deeper than the JavaScript stack allows.
    if (isStackOverflow(e)) throw failure("parse", name, "too deeply nested: the JavaScript stack ran out")
    throw failure("parse", name, `internal error: ${e instanceof Error ? e.message : String(e)}`)
  }
  const env = { funcs, builtins }
  return {
    name,
    source,
    execute: (data: unknown, options?: ExecuteOptions): string => {
      try {
        return executeTrees(trees, name, data, env, {
          maxSteps: options?.maxSteps ?? defaultLimits.maxSteps,
          maxOutputBytes: options?.maxOutputBytes ?? defaultLimits.maxOutputBytes,
          timeoutMs: options?.timeoutMs ?? defaultLimits.timeoutMs
        })
      } catch (e) {
        if (e instanceof ExecFailure) throw fromExecFailure(e)
        if (isStackOverflow(e))
          throw failure("execute", name, "too deeply nested: the JavaScript stack ran out")
        throw failure("execute", name, `internal error: ${e instanceof Error ? e.message : String(e)}`)
      }
    }
  }
}

/**
 * Parses and executes a template in one go. Throws a `TemplateError`.
 *
 * @example
 * import { GoTemplate } from "@nth/go-template"
 *
 * GoTemplate.render(`{{ printf "%05.1f" .x }}`, new Map([["x", 3.14159]])) // "003.1"
 *
 * @category rendering
 * @since 0.4.0
 */
export const render = (source: string, data: unknown, options?: Options & ExecuteOptions): string =>
  parse(source, options).execute(data, options)

/**
 * `parse`, as an Effect failing with the `TemplateError`.
 *
 * @category parsing
 * @since 0.4.0
 */
export const parseEffect = (source: string, options?: Options): Effect.Effect<Template, TemplateError> =>
  Effect.try({
    try: () => parse(source, options),
    catch: (e) =>
      e instanceof TemplateError
        ? e
        : new TemplateError({
            phase: "parse",
            name: options?.name ?? "template",
            line: undefined,
            column: undefined,
            reason: String(e),
            message: String(e)
          })
  })

/**
 * `template.execute(data)`, as an Effect failing with the `TemplateError`.
 *
 * @category rendering
 * @since 0.4.0
 */
export const executeEffect = (
  template: Template,
  data: unknown,
  options?: ExecuteOptions
): Effect.Effect<string, TemplateError> =>
  Effect.try({
    try: () => template.execute(data, options),
    catch: (e) =>
      e instanceof TemplateError
        ? e
        : new TemplateError({
            phase: "execute",
            name: template.name,
            line: undefined,
            column: undefined,
            reason: String(e),
            message: String(e)
          })
  })

/**
 * How a struct is declared beyond its fields: which fields are embedded (anonymous) structs, whose fields are
 * promoted (`.AccountId` finds `NodeMetadata.AccountId`) and inlined in JSON; and the fields' `json` tags
 * (`"accountId"`, `"name,omitempty"`, `"-"`), which `toJson` follows.
 *
 * @category models
 * @since 0.4.0
 */
export interface StructOptions {
  readonly embedded?: ReadonlyArray<string> | undefined
  readonly json?: Readonly<Record<string, string>> | undefined
}

/**
 * Gives a plain object (a struct) a Go type name, as errors and `%T`/`typeOf` show it
 * (`can't evaluate field X in type main.Event`), and optionally embedded fields and JSON tags. A name starting
 * with `*` makes it a pointer to a struct, printed `&{…}` as Go prints one. Returns the same object.
 *
 * @example
 * import { GoTemplate } from "@nth/go-template"
 *
 * const metadata = GoTemplate.struct("ec2metadata.NodeMetadata", { AccountId: "123" }, { json: { AccountId: "accountId" } })
 * const data = GoTemplate.struct("webhook.combinedDrainData", { NodeMetadata: metadata, InstanceID: "i-1" }, {
 *   embedded: ["NodeMetadata"]
 * })
 * GoTemplate.render("{{ .AccountId }} {{ toJson . }}", data) // `123 {"accountId":"123","InstanceID":"i-1"}`
 *
 * @category constructors
 * @since 0.4.0
 */
export const struct = <A extends Record<string, unknown>>(
  typeName: string,
  fields: A,
  options?: StructOptions
): A =>
  annotate(fields, {
    kind: "struct",
    name: typeName,
    fields: Object.keys(fields).filter((k) => typeof fields[k] !== "function"),
    embedded: options?.embedded === undefined ? undefined : new Set(options.embedded),
    jsonTags: options?.json === undefined ? undefined : new Map(Object.entries(options.json))
  })

/**
 * A nil slice or map of a Go type (`"[]string"`, `"map[string]string"`): empty when ranged, printed and measured,
 * but `null` in JSON (`toJson`), as Go's nil slices and maps are.
 *
 * @category constructors
 * @since 0.4.0
 */
export const nilOf = (goType: string): unknown => {
  const t = parseType(goType)
  if (t.kind !== "slice" && t.kind !== "map") throw new Error(`${goType} is not a slice or map type`)
  return nilValue(t)
}

/**
 * Gives a value a Go type: a slice or map type for an array or `Map` (`"[]string"`, `"map[string]string"` —
 * a missing key of a `map[string]string` then indexes to `""`, not nil), or a numeric type for a number
 * (`"float64"`, `"int64"`, `"uint8"`, …). Returns the typed value.
 *
 * @category constructors
 * @since 0.4.0
 */
export const typed = <A>(value: A, goType: string): A => {
  const t = parseType(goType)
  if (typeof value === "number" || typeof value === "bigint") {
    if (
      t.kind === "slice" ||
      t.kind === "map" ||
      t.kind === "string" ||
      t.kind === "bool" ||
      t.kind === "interface"
    )
      throw new Error(`cannot give a number the Go type ${goType}`)
    return makeNumber(t, value) as A
  }
  if (Array.isArray(value) && t.kind === "slice") return annotate(value, t)
  if (value instanceof Map && t.kind === "map") return annotate(value, t)
  throw new Error(`cannot give ${typeof value} the Go type ${goType}`)
}

/**
 * Makes a template function fail with a message, as a Go function returning an error does: the template stops
 * with `error calling <name>: <message>`. Any other thrown value does the same.
 *
 * @category constructors
 * @since 0.4.0
 */
export const fail = (message: string): never => {
  throw new GoError(message)
}
