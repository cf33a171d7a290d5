/**
 * Differential test: every template of the corpus (`corpus/templates.json`) rendered by Go's own text/template
 * with Sprig v3.2.3's function map, as the AWS Node Termination Handler renders its webhook templates (the test
 * bed's template oracle, built from the Go module proxy and cached outside the repo), and by nth (`@nth/go-template`
 * with the data `WebhookData` builds). Outputs
 * must be the same, byte for byte; where Go fails, this package must fail too, in the same phase (parse or execute).
 * Error messages are not compared.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { GoTemplate } from "@nth/go-template"
import * as TemplateOracle from "@nth/testbed/template-oracle"
import { corpus, type Entry, toEngineData, toRequest } from "./corpus.ts"

type Outcome =
  | { readonly output: string }
  | { readonly error: string; readonly phase: string }
  | { readonly crash: string }

/** What this package makes of an entry: the name is the Go handler's (`message`). */
const renderHere = (entry: Entry): Outcome => {
  const failure = (error: unknown, phase: string): Outcome => {
    const err = error as { readonly name?: string; readonly message?: string; readonly phase?: string }
    // A TemplateError says its phase; anything else is the engine crashing.
    return err?.name === "TemplateError" || typeof err?.phase === "string"
      ? { error: String(err.message), phase: err.phase ?? phase }
      : { crash: error instanceof Error ? (error.stack ?? error.message) : String(error) }
  }
  let template: ReturnType<typeof GoTemplate.parse>
  try {
    template = GoTemplate.parse(entry.template, { name: "message" })
  } catch (error) {
    return failure(error, "parse")
  }
  try {
    return { output: template.execute(toEngineData(entry)) }
  } catch (error) {
    return failure(error, "execute")
  }
}

let go: ReadonlyArray<TemplateOracle.Result> = []

beforeAll(async () => {
  const oracle = await TemplateOracle.ensureTemplateOracle((line) => console.log(line))
  go = await TemplateOracle.render(oracle, corpus.templates.map(toRequest))
}, 300_000)

describe("Go text/template with Sprig v3.2.3 and nth render webhook templates alike", () => {
  it("has a corpus of at least 40 templates with unique names", () => {
    expect(corpus.templates.length).toBeGreaterThanOrEqual(40)
    expect(new Set(corpus.templates.map((entry) => entry.name)).size).toBe(corpus.templates.length)
  })

  corpus.templates.forEach((entry, index) => {
    it(entry.name, () => {
      const expected = go[index]
      if (expected === undefined) throw new Error("the oracle gave no result")
      if ("error" in expected) {
        expect(expected.phase, `Go: ${expected.error}`).not.toBe("input")
        // The corpus says which cases fail, so that a typo cannot turn a success case into a failure one.
        expect(`${expected.phase}-error`, `Go: ${expected.error}`).toBe(entry.expect)
        const here = renderHere(entry)
        expect(here, `Go failed (${expected.phase}): ${expected.error}`).toMatchObject({
          phase: expected.phase
        })
      } else {
        expect(entry.expect, `Go rendered ${JSON.stringify(expected.output)}`).toBeUndefined()
        expect(renderHere(entry)).toEqual({ output: expected.output })
      }
    })
  })
})
