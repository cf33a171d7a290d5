/**
 * Whatever the environment and the command line hold, reading the settings gives settings (with warnings) or one
 * `InvalidSettings` whose every problem names the variable or flag at fault (the programs print it and exit 2):
 * it never throws. Values are arbitrary text, numbers and booleans in odd spellings, for any of the Go handler's
 * variables (deprecated names included), and flags in any of Go's forms.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Settings } from "../src/index.ts"

const names = Settings.variables.flatMap((v) =>
  v.deprecatedAlias === undefined ? [v.env] : [v.env, v.deprecatedAlias]
)

const value = fc.oneof(
  fc.string(),
  fc.constantFrom(
    "",
    "true",
    "false",
    "TRUE",
    "1",
    "0",
    "-1",
    "1e3",
    "0x10",
    " 5 ",
    "NaN",
    "∞",
    "{}",
    "[]",
    "a=b,c"
  ),
  fc.integer().map(String),
  fc.double().map(String)
)

const environment = fc.dictionary(fc.constantFrom(...names), value, { maxKeys: 8 })

const flag = fc
  .tuple(fc.constantFrom(...names), value, fc.constantFrom("-", "--"), fc.boolean())
  .map(([name, text, dashes, joined]) => {
    const flagName = `${dashes}${name.toLowerCase().replaceAll("_", "-")}`
    return joined ? [`${flagName}=${text}`] : [flagName, text]
  })

describe("Settings.parse, any input", () => {
  it("settings or one InvalidSettings naming what is wrong; never a throw", () => {
    fc.assert(
      fc.property(
        environment,
        fc.array(flag, { maxLength: 3 }),
        fc.constantFrom("imds", "queue", undefined),
        (env, flags, program) => {
          let parsed: ReturnType<typeof Settings.parse>
          try {
            parsed = Settings.parse({ NODE_NAME: "node-1", ...env }, { program, argv: flags.flat() })
          } catch (thrown) {
            throw new Error(`parse threw on ${JSON.stringify({ env, flags })}: ${String(thrown)}`)
          }
          if (parsed instanceof Settings.InvalidSettings) {
            expect(parsed.problems.length).toBeGreaterThan(0)
            for (const problem of parsed.problems)
              expect(problem).toMatch(/[A-Z][A-Z0-9_]+|--?[a-z-]+|flag|argument/)
          } else {
            expect(Array.isArray(parsed.warnings)).toBe(true)
          }
        }
      ),
      { numRuns: 500 }
    )
  })
})
