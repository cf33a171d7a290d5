/**
 * Walks the Go handler's full settings list (fixtures/go-settings.json, written from its `pkg/config/config.go`:
 * 54 settings and 3 deprecated aliases) through both programs' parsing, as a variable and as a command-line flag,
 * and checks that each is applied (an observable change in the settings and, where they use it, the handler's
 * options), accepted with a warning that names it (a documented difference, or the other mode's setting), or
 * refused naming it (`InvalidSettings`, which the programs turn into exit code 2: `Program.exitOf`, and the
 * programs' own tests in apps/daemonset/test/daemonset.test.ts and apps/deployment/test/deployment.test.ts).
 * Nothing is silently ignored. Also: `--help` lists every name, alias and flag in the section of its mode.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Settings } from "../src/index.ts"

type Outcome = "applied" | "warned" | "refused" | "external"
type Program = "imds" | "queue"

interface Row {
  readonly n: number
  readonly flag: string
  readonly env: string
  readonly type: string
  readonly goDefault: string
  readonly goMode: "both" | "imds" | "queue" | "switch"
  readonly value: string
  readonly imds: Outcome
  readonly queue: Outcome
  readonly key?: keyof Settings.Settings
  readonly handlerOption?: string
  readonly aliasOf?: string
  readonly flagOutcome?: Outcome
  readonly with?: Readonly<Record<string, string>>
  readonly nthMode?: "both" | "imds" | "queue"
  readonly parsedOnly?: boolean
  readonly note?: string
}

const fixture = JSON.parse(readFileSync(new URL("./fixtures/go-settings.json", import.meta.url), "utf8")) as {
  readonly nthOnly: ReadonlyArray<string>
  readonly settings: ReadonlyArray<Row>
}
const rows = fixture.settings

// WEBHOOK_TEMPLATE_FILE needs a file that is there.
const templateFile = join(mkdtempSync(join(tmpdir(), "nth-settings-walk-")), "template")
writeFileSync(templateFile, '{"text":"{{ .Kind }} on {{ .NodeName }}"}')
const valueFor = (row: Row) => row.value.replace("$TEMPLATE_FILE", templateFile)

const bases: Readonly<Record<Program, Readonly<Record<string, string>>>> = {
  imds: { NODE_NAME: "node-1" },
  queue: {
    NODE_NAME: "node-1",
    ENABLE_SQS_TERMINATION_DRAINING: "true",
    QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/nth"
  }
}

/** The program's environment for a row (without the mode switch for its own row: the queue program needs it). */
const baseFor = (row: Row, program: Program): Record<string, string> => {
  const { [row.env]: _, ...base } = bases[program]
  return { ...(row.goMode === "switch" ? base : bases[program]), ...row.with }
}

const parse = (program: Program, env: Record<string, string>, argv: ReadonlyArray<string> = []) =>
  Settings.parse(env, { program, argv })

/** Whether a text names a variable (`WEBHOOK_TEMPLATE` is not named by `WEBHOOK_TEMPLATE_FILE`). */
const names = (text: string, name: string) => new RegExp(`(?<![A-Z0-9_])${name}(?![A-Z0-9_])`).test(text)

const at = (value: unknown, path: string): unknown =>
  path
    .split(".")
    .reduce<unknown>((object, key) => (object as Record<string, unknown> | undefined)?.[key], value)

const handlerOptions = (parsed: Settings.Parsed) => Settings.toHandlerOptions(parsed.settings, parsed.given)

const valid = (parsed: Settings.Parsed | Settings.InvalidSettings, what: string): Settings.Parsed => {
  if (parsed instanceof Settings.InvalidSettings) throw new Error(`${what}: ${parsed.message}`)
  return parsed
}

/** The row's setting given to `program` as a variable or as a flag, checked against its outcome. */
const check = (row: Row, program: Program, form: "variable" | "flag") => {
  const what = `${form === "flag" ? `--${row.flag}` : row.env}=${valueFor(row)} (${program} mode)`
  const base = baseFor(row, program)
  const parsed =
    form === "variable"
      ? parse(program, { ...base, [row.env]: valueFor(row) })
      : parse(program, base, [`--${row.flag}=${valueFor(row)}`])
  const outcome = (form === "flag" ? row.flagOutcome : undefined) ?? row[program]
  const otherMode = row.goMode !== "both" && row.goMode !== "switch" && row.goMode !== program
  switch (outcome) {
    case "applied": {
      const withValue = valid(parsed, what)
      const without = parse(program, base)
      if (without instanceof Settings.InvalidSettings) {
        // The mode switch: the queue-mode program needs it.
        expect(row.goMode, what).toBe("switch")
        expect(names(without.message, row.env), what).toBe(true)
      } else {
        expect(row.key, what).toBeDefined()
        expect(withValue.settings[row.key!], what).not.toEqual(without.settings[row.key!])
        if (row.handlerOption !== undefined)
          expect(at(handlerOptions(withValue), row.handlerOption), what).not.toEqual(
            at(handlerOptions(without), row.handlerOption)
          )
      }
      const warned = withValue.warnings.filter((warning) => names(warning, row.env))
      if (row.aliasOf !== undefined) expect(warned.join("\n"), what).toContain("deprecated")
      else if (!row.parsedOnly) expect(warned, what).toEqual([])
      return
    }
    case "warned": {
      const accepted = valid(parsed, what)
      const warned = accepted.warnings.filter((warning) => names(warning, row.env))
      expect(warned, what).not.toEqual([])
      expect(row.note, `${what}: a documented difference`).toBeTruthy()
      if (otherMode) expect(warned.join("\n"), what).toContain("mode only")
      return
    }
    case "refused": {
      expect(parsed, what).toBeInstanceOf(Settings.InvalidSettings)
      expect(names((parsed as Settings.InvalidSettings).message, row.env), what).toBe(true)
      return
    }
    case "external": {
      // Read by another part of nth from the process environment: the settings neither use nor refuse it.
      const accepted = valid(parsed, what)
      expect(row.note, `${what}: says who reads it`).toBeTruthy()
      expect(accepted.settings, what).toEqual(valid(parse(program, base), `${what}, without it`).settings)
      return
    }
  }
}

describe("the Go handler's settings, walked through both programs", () => {
  it("has every flag of the Go handler in the fixture: 54 settings and 3 deprecated aliases", () => {
    expect(rows).toHaveLength(57)
    expect(new Set(rows.map((row) => row.env)).size).toBe(57)
    expect(new Set(rows.map((row) => row.flag)).size).toBe(57)
    expect(rows.filter((row) => row.aliasOf !== undefined).map((row) => [row.env, row.aliasOf])).toEqual([
      ["GRACE_PERIOD", "POD_TERMINATION_GRACE_PERIOD"],
      ["CHECK_ASG_TAG_BEFORE_DRAINING", "CHECK_TAG_BEFORE_DRAINING"],
      ["MANAGED_ASG_TAG", "MANAGED_TAG"]
    ])
  })

  it("has nth read no setting the fixture does not list, except its own", () => {
    const go = new Set(rows.map((row) => row.env))
    for (const variable of Settings.variables) {
      expect(go.has(variable.env) || fixture.nthOnly.includes(variable.env), variable.env).toBe(true)
      if (variable.deprecatedAlias !== undefined) expect(go.has(variable.deprecatedAlias)).toBe(true)
    }
    // And the other way round: every row nth parses is one of its variables, under the same flag.
    for (const row of rows.filter((row) => row.key !== undefined)) {
      const variable = Settings.variables.find((v) => v.key === row.key)
      expect(variable, row.env).toBeDefined()
      expect([variable?.env, variable?.deprecatedAlias], row.env).toContain(row.env)
    }
  })

  for (const row of rows) {
    describe(`${row.n}. ${row.env} (--${row.flag})`, () => {
      for (const program of ["imds", "queue"] as const) {
        it(`${program} mode: ${row[program]} as a variable, ${row.flagOutcome ?? row[program]} as a flag`, () => {
          check(row, program, "variable")
          check(row, program, "flag")
        })
      }

      if (row.key !== undefined && row.flagOutcome === undefined) {
        it("takes the flag over the variable, as the Go handler", () => {
          for (const program of ["imds", "queue"] as const) {
            const base = baseFor(row, program)
            const flag = [`--${row.flag}=${row.goDefault}`]
            const both = parse(program, { ...base, [row.env]: valueFor(row) }, flag)
            const flagOnly = parse(program, base, flag)
            if (flagOnly instanceof Settings.InvalidSettings) {
              expect(both, program).toBeInstanceOf(Settings.InvalidSettings)
            } else {
              expect(valid(both, program).settings[row.key!], program).toEqual(flagOnly.settings[row.key!])
            }
          }
        })
      }
    })
  }

  it("picks the mode by ENABLE_SQS_TERMINATION_DRAINING when no program is named (the Go handler's one binary)", () => {
    const queue = valid(
      Settings.parse({ ...bases.queue, INSTANCE_METADATA_URL: "http://127.0.0.1:1338" }),
      "queue"
    )
    expect(Settings.toHandlerOptions(queue.settings, queue.given).actions.mode).toBe("queue")
    expect(queue.warnings.join("\n")).toContain("INSTANCE_METADATA_URL is a setting of IMDS mode only")
    const imds = valid(
      Settings.parse({ ...bases.imds, QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/q" }),
      "imds"
    )
    expect(Settings.toHandlerOptions(imds.settings, imds.given).actions.mode).toBe("imds")
    expect(imds.warnings.join("\n")).toContain("QUEUE_URL is a setting of queue mode only")
  })

  it("refuses a bad value of a few representative settings in both programs, naming each (exit code 2)", () => {
    const cases: ReadonlyArray<readonly [Program, Record<string, string>, ReadonlyArray<string>, string]> = [
      ["imds", { TAINT_EFFECT: "Sometimes" }, [], "TAINT_EFFECT"],
      ["imds", {}, ["--workers=many"], "WORKERS"],
      ["imds", { LOG_LEVEL: "loud" }, [], "LOG_LEVEL"],
      ["imds", { HEARTBEAT_INTERVAL: "60" }, [], "HEARTBEAT_INTERVAL"],
      ["queue", { SQS_MSG_VISIBILITY_TIMEOUT_SEC: "500" }, [], "SQS_MSG_VISIBILITY_TIMEOUT_SEC"],
      ["queue", { HEARTBEAT_INTERVAL: "5" }, [], "HEARTBEAT_INTERVAL"],
      ["queue", { QUEUE_URL: "" }, [], "QUEUE_URL"],
      ["queue", {}, ["--check-asg-tag-before-draining=maybe"], "CHECK_ASG_TAG_BEFORE_DRAINING"]
    ]
    for (const [program, env, argv, name] of cases) {
      const parsed = parse(program, { ...bases[program], ...env }, argv)
      expect(parsed, name).toBeInstanceOf(Settings.InvalidSettings)
      // The tag the programs exit 2 on (Program.exitOf in @nth/runtime).
      expect((parsed as Settings.InvalidSettings)._tag).toBe("InvalidSettings")
      expect((parsed as Settings.InvalidSettings).message, name).toContain(name)
    }
  })

  describe("--help", () => {
    const help = Settings.help()
    const sections = help.split("\n\n")
    const sectionOf = (line: string) => sections.find((section) => section.split("\n").includes(line))
    const titles = {
      both: "Both modes:",
      imds: "IMDS mode:",
      queue: "Queue mode:",
      external: "Kubernetes API, both modes"
    } as const
    const lines = help.split("\n")

    it("lists every setting, alias and flag, in the section of the mode it applies to", () => {
      for (const row of rows) {
        const line = lines.find((l) =>
          row.aliasOf === undefined
            ? l.startsWith(`  ${row.env}, --${row.flag} `) || l === `  ${row.env}, --${row.flag}`
            : l.includes(`[also ${row.env}, --${row.flag}, deprecated]`)
        )
        expect(line, row.env).toBeDefined()
        const mode = row.imds === "external" ? "external" : (row.nthMode ?? row.goMode)
        expect(sectionOf(line!)?.startsWith(titles[mode as keyof typeof titles]), row.env).toBe(true)
      }
    })

    it("starts every description in the same column, a long name's on the next line", () => {
      const column = 2 + 64 + 1
      let rowsSeen = 0
      for (const [i, line] of lines.entries()) {
        if (!line.startsWith("  ") || line.startsWith(" ".repeat(column))) continue
        rowsSeen++
        const padded = /^ {2}\S(?:.*?\S)?\s{2,}(?=\S)/.exec(line)
        if (padded !== null) expect(padded[0].length, line).toBe(column)
        else expect(lines[i + 1], line).toMatch(new RegExp(`^ {${column}}\\S`))
      }
      expect(rowsSeen).toBeGreaterThan(50)
    })
  })
})
