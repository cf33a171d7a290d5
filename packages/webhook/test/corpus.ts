/**
 * The differential corpus (`corpus/templates.json`) and its data in the two shapes it is rendered with: as JSON for
 * the Go oracle (`@nth/testbed/template-oracle`), and as the Go values nth renders with (`WebhookData`, `@nth/go-template`).
 *
 * The webhook data sets name the Go handler's fields as Go does, in its two embedded structs (`NodeMetadata`, the
 * IMDS identity of the host; `InterruptionEvent`, the event); both sides build the Go handler's struct from them.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { GoTemplate, GoTime } from "@nth/go-template"
import type * as TemplateOracle from "@nth/testbed/template-oracle"
import { WebhookData } from "../src/index.ts"

/** One template of the corpus. */
export interface Entry {
  readonly name: string
  readonly template: string
  /** The data set the template executes with (a key of `Corpus.data`); with neither this nor `raw`, nil. */
  readonly data?: string
  /** JSON the template sees as Go's encoding/json decodes it into an `interface{}`. */
  readonly raw?: unknown
  /** The failure Go gives: the corpus is checked against it, so that a case meant to fail does fail. */
  readonly expect?: "parse-error" | "execute-error"
  readonly note?: string
}

export interface Corpus {
  readonly data: Readonly<Record<string, TemplateOracle.WebhookData>>
  readonly templates: ReadonlyArray<Entry>
}

export const corpus: Corpus = JSON.parse(
  readFileSync(join(import.meta.dirname, "corpus", "templates.json"), "utf8")
) as Corpus

/** What the oracle is asked to render for an entry. */
export const toRequest = (entry: Entry): TemplateOracle.Request => {
  if (entry.data !== undefined) {
    const data = corpus.data[entry.data]
    if (data === undefined) throw new Error(`${entry.name}: no data set ${entry.data}`)
    return { name: entry.name, template: entry.template, data }
  }
  return entry.raw === undefined
    ? { name: entry.name, template: entry.template }
    : { name: entry.name, template: entry.template, raw: entry.raw }
}

const rfc3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/

/** A `time.Time` from an RFC 3339 string, to the nanosecond (a `Z` time is UTC); a missing one is the zero time. */
export const toTime = (text: string | undefined): GoTime.GoTime => {
  if (text === undefined) return GoTime.zero
  const match = rfc3339.exec(text)
  if (match === null) throw new Error(`not an RFC 3339 time: ${text}`)
  const [, seconds, fraction = "", zone] = match
  if (zone !== "Z") throw new Error(`only UTC ("Z") times are supported: ${text}`)
  return GoTime.fromUnix(Date.parse(`${seconds}Z`) / 1000, Number(fraction.padEnd(9, "0")))
}

/**
 * The Go handler's webhook data from a data set, built by nth's own `WebhookData.fromParts` (what the programs
 * send with): the test checks nth's data as much as its engine. A missing or null `NodeLabels` or `Pods` is a nil
 * map or slice, as in the zero data the Go handler checks templates with.
 */
export const toWebhookData = (data: TemplateOracle.WebhookData): WebhookData.Data => {
  const e = data.InterruptionEvent ?? {}
  return WebhookData.fromParts({
    NodeMetadata: data.NodeMetadata ?? {},
    InterruptionEvent: {
      ...e,
      NodeLabels:
        e.NodeLabels === undefined || e.NodeLabels === null ? null : new Map(Object.entries(e.NodeLabels)),
      Pods: e.Pods ?? null,
      StartTime: toTime(e.StartTime),
      EndTime: toTime(e.EndTime)
    }
  })
}

/**
 * JSON as Go's encoding/json decodes it into an `interface{}`: objects are `map[string]interface {}`, arrays
 * `[]interface {}`, every number a float64.
 */
export const toRaw = (value: unknown): unknown => {
  if (value === null) return null
  if (typeof value === "number") return GoTemplate.typed(value, "float64")
  if (Array.isArray(value)) return value.map(toRaw)
  if (typeof value === "object")
    return new Map<unknown, unknown>(Object.entries(value).map(([key, inner]) => [key, toRaw(inner)]))
  return value
}

/** The value the engine executes an entry's template with. */
export const toEngineData = (entry: Entry): unknown => {
  if (entry.data !== undefined) {
    const data = corpus.data[entry.data]
    if (data === undefined) throw new Error(`${entry.name}: no data set ${entry.data}`)
    return toWebhookData(data)
  }
  return entry.raw === undefined ? undefined : toRaw(entry.raw)
}
