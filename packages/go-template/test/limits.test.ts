/**
 * Regressions for templates that could freeze the program (nth renders webhook templates on its only thread) or
 * escape as something other than a `TemplateError`: backtracking regular expressions, huge work (`until`, `seq`,
 * `range`), huge values and outputs, and nesting deeper than the JavaScript stack.
 */
import { describe, expect, it } from "@effect/vitest"
import { GoTemplate } from "../src/index.ts"

const m = (entries: Record<string, unknown>): Map<string, unknown> => new Map(Object.entries(entries))

/** The outcome of parsing and executing, and how long it took. */
const run = (
  source: string,
  data?: unknown,
  options?: GoTemplate.ExecuteOptions
): { readonly output?: string; readonly error?: GoTemplate.TemplateError; readonly ms: number } => {
  const started = performance.now()
  try {
    const output = GoTemplate.parse(source, { name: "message" }).execute(data, options)
    return { output, ms: performance.now() - started }
  } catch (e) {
    // Anything but a TemplateError fails the test here.
    if (!(e instanceof GoTemplate.TemplateError)) throw e
    return { error: e, ms: performance.now() - started }
  }
}

describe("limits", () => {
  describe("regular expressions match in linear time (RE2), as Go's do", () => {
    it("a backtracking-prone regexMatch on a long node name returns in linear time", () => {
      const pattern = "^([a-z0-9-]+\\\\.?)+$"
      const short = run(`{{ regexMatch "${pattern}" .n }}`, m({ n: "ip-10-0-0-1-ec2-internal!" }))
      expect(short.output).toBe("false")
      expect(short.ms).toBeLessThan(1000)
      const long = run(`{{ regexMatch "${pattern}" .n }}`, m({ n: `${"ip-10-0-0-1-".repeat(2000)}!` }))
      expect(long.output).toBe("false")
      expect(long.ms).toBeLessThan(1000)
      expect(run(`{{ regexMatch "${pattern}" .n }}`, m({ n: "ip-10-0-0-1.ec2.internal" })).output).toBe(
        "true"
      )
    })

    it("(a+)+$ on a long run of a's returns in linear time", () => {
      const short = run('{{ regexFindAll "(a+)+$" .s -1 }}', m({ s: `${"a".repeat(24)}!` }))
      expect(short.output).toBe("[]")
      expect(short.ms).toBeLessThan(1000)
      const long = run(
        '{{ regexMatch "(a+)+$" .s }} {{ regexReplaceAll "(a+)+$" .s "x" | len }}',
        m({ s: `${"a".repeat(5000)}!` })
      )
      expect(long.output).toBe("false 5001")
      expect(long.ms).toBeLessThan(1000)
    })

    it("keeps Go's semantics: leftmost-first, empty matches, (?U), duplicate group names, no lookbehind", () => {
      // Go 1.26's output for each.
      expect(
        run(
          '{{ regexFindAll "(?U)a+" "aaa" -1 }}|{{ regexReplaceAll "(|a)+" "baaac" "X" }}|{{ regexReplaceAll "(?P<n>a)|(?P<n>b)" "abc" "[$n]" }}|{{ regexFindAll "a|ab" "abab" -1 }}|{{ regexSplit "x*" "axbxxc" -1 }}|{{ regexReplaceAll "" "🚀é" "-" }}'
        ).output
      ).toBe("[a a a]|XbXaXaXaXcX|[a][b]c|[a a]|[a b c]|-🚀-é-")
      expect(run('{{ regexFind "(?<=a)b" "ab" }}').error?.reason).toBe(
        "error calling regexFind: regexp: Compile(`(?<=a)b`): error parsing regexp: invalid named capture: `(?<=a)b`"
      )
    })
  })

  describe("huge work is refused or stopped, never run to the end", () => {
    it("until 100000000 is refused by the budget, not run", () => {
      const { error, ms } = run("{{ len (until 100000000) }}")
      expect(error?.phase).toBe("execute")
      expect(error?.reason).toBe(
        "error calling until: nth's limit: 100000000 elements are more than the 1000000 a list may have"
      )
      expect(ms).toBeLessThan(1000)
      expect(run("{{ len (until 1000) }} {{ untilStep 0 10 3 }}").output).toBe("1000 [0 3 6 9]")
    })

    it("seq 1 50000000 is refused by the budget, not run", () => {
      const { error, ms } = run("{{ seq 1 50000000 }}")
      expect(error?.reason).toBe(
        "error calling seq: nth's limit: 50000000 elements are more than the 1000000 a list may have"
      )
      expect(ms).toBeLessThan(1000)
      expect(run("{{ untilStep 0 100000000 2 }}").error?.reason).toContain("50000000 elements")
      expect(run("{{ seq 1 3 }} {{ seq 5 -1 1 }}").output).toBe("1 2 3 5 4 3 2 1")
    })

    it("repeat, indent, randAlphaNum, randBytes and replace refuse a string over 10 MiB before building it", () => {
      const limit = "a string may have"
      for (const source of [
        '{{ repeat 100000000 "x" }}',
        '{{ indent 100000000 "x" }}',
        '{{ nindent 10000000 "a\\nb" }}',
        "{{ randAlphaNum 100000000 }}",
        "{{ randBytes 100000000 }}",
        '{{ replace "" (repeat 100 "b") (repeat 1000000 "a") }}',
        '{{ join (repeat 1000000 "x") (until 100) }}'
      ]) {
        const { error, ms } = run(source)
        expect(error?.reason, source).toContain(limit)
        expect(ms, source).toBeLessThan(1000)
      }
      expect(run('{{ repeat 3 "ab" }} {{ repeat 100000000 "" }}|{{ indent 2 "a\\nb" }}').output).toBe(
        "ababab |  a\n  b"
      )
    })

    it("a string or list that doubles in a loop stops at the caps", () => {
      expect(
        run('{{ $s := "ab" }}{{ range until 100 }}{{ $s = print $s $s }}{{ end }}{{ len $s }}').error?.reason
      ).toBe("error calling print: nth's limit: 16777216 bytes are more than the 10485760 a string may have")
      expect(
        run("{{ $l := list 1 }}{{ range until 100 }}{{ $l = concat $l $l }}{{ end }}{{ len $l }}").error
          ?.reason
      ).toBe("error calling concat: nth's limit: 1048576 elements are more than the 1000000 a list may have")
    })

    it("regexFindAll, regexSplit and splitList refuse more than a million pieces", () => {
      const s = m({ s: "a".repeat(1_500_000) })
      expect(run('{{ splitList "" .s }}', s).error?.reason).toContain("1500000 elements are more than")
      expect(run('{{ regexSplit "" .s -1 }}', s).error?.reason).toContain(
        "elements are more than the 1000000"
      )
      expect(run('{{ regexFindAll "a" .s 10 }}', s).output).toBe("[a a a a a a a a a a]")
    })

    it("uniq of a million elements takes linear time, not quadratic", () => {
      const { output, ms } = run(
        '{{ uniq (until 1000000) | len }} {{ uniq (list 1 1 2 1.5 1.5 "1" nil nil (list 1) (list 1)) }}'
      )
      expect(output).toBe("1000000 [1 2 1.5 1 <nil> [1]]")
      expect(ms).toBeLessThan(2000)
    })

    it("a range stops at the step limit", () => {
      const { error } = run("{{ range 100000000 }}{{ end }}", undefined, { maxSteps: 100_000 })
      expect(error?.phase).toBe("execute")
      expect(error?.reason).toBe("execution stopped: more than nth's limit of 100000 steps")
      const nested = run("{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}", undefined, {
        maxSteps: 100_000
      })
      expect(nested.error?.message).toMatch(/^template: message:1:\d+: executing "message" at <\{\{range/)
      expect(run("{{ range 10 }}{{ . }}{{ end }}", undefined, { maxSteps: 100 }).output).toBe("0123456789")
    })

    it("an execution stops at the time limit", () => {
      const { error, ms } = run(
        '{{ range until 1000000 }}{{ $x := sha256sum (repeat 1000 "x") }}{{ end }}',
        undefined,
        { timeoutMs: 50 }
      )
      expect(error?.reason).toBe("execution stopped: more than nth's time limit of 50 ms")
      expect(ms).toBeLessThan(1000)
    })

    it("an execution stops at the output limit", () => {
      const { error } = run('{{ range until 1000000 }}{{ repeat 100 "é" }}{{ end }}', undefined, {
        maxOutputBytes: 1000
      })
      expect(error?.reason).toBe("execution stopped: output of more than nth's limit of 1000 bytes")
      expect(run('{{ repeat 5 "é" }}', undefined, { maxOutputBytes: 10 }).output).toBe("ééééé")
      expect(run('{{ repeat 6 "é" }}', undefined, { maxOutputBytes: 10 }).error?.reason).toContain("output")
    })

    it("the default budget stops a runaway loop", () => {
      const { error, ms } = run("{{ $l := list }}{{ range until 1000000 }}{{ $l = append $l . }}{{ end }}")
      expect(error?.reason).toMatch(
        /^execution stopped: more than nth's (limit of 10000000 steps|time limit of 2000 ms)$/
      )
      expect(ms).toBeLessThan(5000)
    })
  })

  describe("nesting deeper than the stack is a TemplateError", () => {
    it("5,000 nested parentheses are a TemplateError", () => {
      const { error } = run(`{{ ${"(".repeat(5000)}1${")".repeat(5000)} }}`)
      expect(error?.phase).toBe("parse")
      expect(error?.reason).toBe("too deeply nested: the JavaScript stack ran out")
      expect(error?.message).toBe("template: message: too deeply nested: the JavaScript stack ran out")
      expect(run(`{{ ${"(".repeat(100)}1${")".repeat(100)} }}`).output).toBe("1")
    })

    it("20,000 nested ifs are a TemplateError", () => {
      const { error } = run(`${"{{if 1}}".repeat(20000)}x${"{{end}}".repeat(20000)}`)
      expect(error?.phase).toBe("parse")
      expect(error?.reason).toBe("too deeply nested: the JavaScript stack ran out")
      expect(run(`${"{{if 1}}".repeat(100)}x${"{{end}}".repeat(100)}`).output).toBe("x")
    })

    it("template calls deeper than the stack report Go's maximum template depth", () => {
      const runaway = run('{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}')
      expect(runaway.error?.phase).toBe("execute")
      expect(runaway.error?.reason).toBe("exceeded maximum template depth (100000)")
      const deep = run(
        '{{ define "r" }}{{ if lt (len .) 50000 }}{{ template "r" (append . 1) }}{{ end }}{{ end }}{{ template "r" list }}'
      )
      expect(deep.error?.reason).toBe("exceeded maximum template depth (100000)")
      const shallow = run(
        '{{ define "r" }}{{ if lt (len .) 100 }}{{ template "r" (append . 1) }}{{ else }}{{ len . }}{{ end }}{{ end }}{{ template "r" list }}'
      )
      expect(shallow.output).toBe("100")
    })

    it("printing a cyclic value is a TemplateError", () => {
      const cycle: Array<unknown> = []
      cycle.push(cycle)
      const { error } = run("{{ . }}", cycle)
      expect(error?.phase).toBe("execute")
      expect(error?.reason).toBe("too deeply nested: the JavaScript stack ran out")
    })
  })

  describe("parse and execute throw nothing but a TemplateError", () => {
    it("wraps a failure inside the engine as an execute-phase TemplateError", () => {
      let reads = 0
      const data = GoTemplate.struct("main.T", {
        // Read once by struct(); the template's read throws.
        get X(): string {
          if (reads++ > 0) throw new TypeError("boom")
          return ""
        }
      })
      const { error } = run("{{ .X }}", data)
      expect(error?.phase).toBe("execute")
      expect(error?.reason).toBe("internal error: boom")
    })

    it("wraps a failure inside the parser as a parse-phase TemplateError", () => {
      let error: unknown
      try {
        GoTemplate.parse(undefined as never)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(GoTemplate.TemplateError)
      expect((error as GoTemplate.TemplateError).phase).toBe("parse")
    })
  })
})
