import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { GoTemplate, GoTime } from "../src/index.ts"

const render = (source: string, data?: unknown, options?: GoTemplate.Options): string =>
  GoTemplate.render(source, data, options)

const failure = (source: string, data?: unknown): GoTemplate.TemplateError => {
  try {
    GoTemplate.render(source, data)
  } catch (e) {
    if (e instanceof GoTemplate.TemplateError) return e
    throw e
  }
  throw new Error(`expected ${source} to fail`)
}

const m = (entries: Record<string, unknown>): Map<string, unknown> => new Map(Object.entries(entries))

describe("GoTemplate", () => {
  describe("the Go handler's default webhook template", () => {
    const template = `{"text":"[NTH][Instance Interruption] EventID: {{ .EventID }} - Kind: {{ .Kind }} - Instance: {{ .InstanceID }} - Node: {{ .NodeName }} - Description: {{ .Description }} - Start Time: {{ .StartTime }}"}`

    it("renders an event as the Go handler does", () => {
      const data = GoTemplate.struct("webhook.combinedDrainData", {
        EventID: "spot-itn-1",
        Kind: "SPOT_ITN",
        InstanceID: "i-0123456789abcdef0",
        NodeName: "ip-10-0-1-23.ec2.internal",
        Description: "Spot ITN received",
        StartTime: GoTime.fromDate(new Date("2026-12-04T10:00:00Z"))
      })
      expect(render(template, data, { name: "message" })).toBe(
        `{"text":"[NTH][Instance Interruption] EventID: spot-itn-1 - Kind: SPOT_ITN - Instance: i-0123456789abcdef0 - Node: ip-10-0-1-23.ec2.internal - Description: Spot ITN received - Start Time: 2026-12-04 10:00:00 +0000 UTC"}`
      )
    })

    it("renders the zero data (the start-up check) with Go's zero time", () => {
      const zero = {
        EventID: "",
        Kind: "",
        InstanceID: "",
        NodeName: "",
        Description: "",
        StartTime: GoTime.zero
      }
      expect(render(template, zero)).toContain("Start Time: 0001-01-01 00:00:00 +0000 UTC")
    })
  })

  describe("parsing", () => {
    it("reports Go's parse errors with the line", () => {
      const e = failure("a\n{{ if .x }}\n{{ foo }}")
      expect(e.phase).toBe("parse")
      expect(e.message).toBe('template: template:3: function "foo" not defined')
      expect(e.line).toBe(3)
      expect(e.column).toBe(4)
      expect(e.reason).toBe('function "foo" not defined')
    })

    it("names the template in errors", () => {
      expect(() => GoTemplate.parse("{{ end }}", { name: "message" })).toThrow(
        "template: message:1: unexpected {{end}}"
      )
    })

    it.each([
      ["{{ if 1 }}", "template: template:1: unexpected EOF"],
      ["{{ }}", "template: template:1: missing value for command"],
      ["{{ 3 ( }}", "template: template:1: unclosed left paren"],
      ["{{ $x }}", 'template: template:1: undefined variable "$x"'],
      ["{{ break }}", "template: template:1: {{break}} outside {{range}}"],
      ['{{ "unterminated }}', "template: template:1: unterminated quoted string"],
      ["{{/* unclosed", "template: template:1: unclosed comment"],
      ["{{ 3 | 4 }}", "template: template:1: non executable command in pipeline stage 2"],
      ["{{ 1e400 }}", 'template: template:1: illegal number syntax: "1e400"'],
      [
        '{{ define "a" }}x{{ end }}{{ define "a" }}y{{ end }}',
        'template: template:1: template: multiple definition of template "a"'
      ],
      ["{{ range $a, $b, $c := . }}{{ end }}", "template: template:1: too many declarations in range"],
      ['{{ "x".a }}', 'template: template:1: unexpected . after term "\\"x\\""']
    ])("refuses %s", (source, message) => {
      expect(() => GoTemplate.parse(source)).toThrow(message)
    })

    it("refuses Sprig functions nth does not implement when parsing, not when executing", () => {
      const e = (() => {
        try {
          GoTemplate.parse('{{ if false }}{{ genCA "x" 3 }}{{ end }}')
        } catch (error) {
          return error as GoTemplate.TemplateError
        }
        throw new Error("parsed")
      })()
      expect(e.message).toBe(
        'template: template:1: function "genCA" is a Sprig function nth does not implement'
      )
      expect(GoTemplate.unimplementedSprigFunctions).toContain("bcrypt")
    })

    it("accepts a caller's function, even in place of an unimplemented Sprig one", () => {
      const functions = { shout: (s: string) => `${s}!`, bcrypt: (s: string) => `hash(${s})` }
      expect(render('{{ shout "hi" }} {{ bcrypt "pw" }}', undefined, { functions })).toBe("hi! hash(pw)")
    })
  })

  describe("execution errors", () => {
    it("reports Go's message, location and context", () => {
      const e = failure("{{ .Foo }}", { Bar: 1 })
      expect(e.phase).toBe("execute")
      expect(e.message).toBe(
        'template: template:1:3: executing "template" at <.Foo>: can\'t evaluate field Foo in type struct { Bar int }'
      )
      expect(e.line).toBe(1)
      expect(e.column).toBe(4)
    })

    it("names a struct's type as given", () => {
      const data = GoTemplate.struct("webhook.combinedDrainData", { Kind: "x" })
      expect(failure("{{ .Kid }}", data).reason).toBe(
        "can't evaluate field Kid in type webhook.combinedDrainData"
      )
    })

    it("refuses arguments to a non-function", () => {
      expect(failure('{{ "a" "b" }}').reason).toBe('can\'t give argument to non-function "a"')
      expect(failure("{{ (1).a }}").message).toBe(
        'template: template:1:4: executing "template" at <1>: can\'t evaluate field a in type int'
      )
    })

    it("reports function errors as Go's `error calling`", () => {
      expect(failure('{{ fail "boom" }}').message).toBe(
        'template: template:1:3: executing "template" at <fail "boom">: error calling fail: boom'
      )
      expect(failure("{{ div 1 0 }}").reason).toBe("error calling div: runtime error: integer divide by zero")
    })

    it("checks argument types as Go does", () => {
      expect(failure("{{ upper 3 }}").reason).toBe("expected string; found 3")
      expect(failure('{{ repeat .n "x" }}', m({ n: GoTemplate.typed(3, "float64") })).reason).toBe(
        "wrong type for value; expected int; got float64"
      )
      expect(failure('{{ eq 1 "a" }}').reason).toBe(
        "error calling eq: incompatible types for comparison: int and string"
      )
    })

    it("treats a field of an interface value as Go does", () => {
      expect(failure("{{ .a.b }}", m({ a: "x" })).reason).toBe("can't evaluate field b in type interface {}")
      expect(failure("{{ .a.b }}", m({ a: null })).reason).toBe("nil pointer evaluating interface {}.b")
      expect(render("{{ .a.b }}", m({}))).toBe("<no value>")
    })

    it("stops runaway recursion", () => {
      expect(failure('{{ define "x" }}{{ template "x" }}{{ end }}{{ template "x" }}').reason).toBe(
        "exceeded maximum template depth (100000)"
      )
    })
  })

  describe("values", () => {
    it("prints Go values as Go does", () => {
      const data = m({
        i: 3,
        f: 1.5,
        big: GoTemplate.typed(1e6, "float64"),
        small: 0.00001,
        s: "x",
        b: true,
        n: null,
        l: [1, "a", null],
        m: m({ b: 2, a: 1 })
      })
      expect(
        render("{{ .i }} {{ .f }} {{ .big }} {{ .small }} {{ .s }} {{ .b }} {{ .n }} {{ .missing }}", data)
      ).toBe("3 1.5 1e+06 1e-05 x true <no value> <no value>")
      expect(render("{{ .l }} {{ .m }}", data)).toBe("[1 a <nil>] map[a:1 b:2]")
    })

    it("prints structs in field order, with names for %+v", () => {
      const s = GoTemplate.struct("main.T", { A: 1, B: "x" })
      expect(render('{{ . }} {{ printf "%+v %T" . . }}', s)).toBe("{1 x} {A:1 B:x} main.T")
      expect(render("{{ . }}", GoTemplate.struct("*main.T", { A: 1 }))).toBe("&{1}")
    })

    it("refuses unexported fields", () => {
      expect(failure("{{ .secret }}", { secret: 1 }).reason).toBe(
        "secret is an unexported field of struct type struct { secret int }"
      )
    })

    it("promotes embedded structs' fields and follows JSON tags", () => {
      const metadata = GoTemplate.struct(
        "ec2metadata.NodeMetadata",
        { AccountId: "123", InstanceID: "i-meta" },
        { json: { AccountId: "accountId", InstanceID: "instanceId" } }
      )
      const data = GoTemplate.struct(
        "webhook.combinedDrainData",
        { NodeMetadata: metadata, InstanceID: "i-1" },
        { embedded: ["NodeMetadata"] }
      )
      expect(render("{{ .AccountId }} {{ .InstanceID }} {{ .NodeMetadata.InstanceID }} {{ . }}", data)).toBe(
        "123 i-1 i-meta {{123 i-meta} i-1}"
      )
      expect(render("{{ toJson . }}", data)).toBe(
        '{"accountId":"123","instanceId":"i-meta","InstanceID":"i-1"}'
      )
    })

    it("types slices and maps, nil ones included", () => {
      const labels = GoTemplate.typed(new Map([["a", "1"]]), "map[string]string")
      expect(render('{{ index . "b" | printf "%q" }} {{ printf "%T" . }}', labels)).toBe(
        '"" map[string]string'
      )
      expect(render('{{ index . "b" }}', new Map([["a", "1"]]))).toBe("<no value>")
      const pods = GoTemplate.nilOf("[]string")
      expect(render("{{ . }} {{ len . }} {{ toJson . }}", pods)).toBe("[] 0 null")
      expect(render('{{ printf "%T %T %v" . 2 . }}', GoTemplate.typed(2, "float64"))).toBe("float64 int 2")
      expect(render('{{ . }} {{ printf "%T" . }}', 1234567890123456789n)).toBe("1234567890123456789 int64")
    })

    it("calls GoTime's methods", () => {
      const t = GoTime.fromDate(new Date("2026-03-14T09:26:53.5Z"))
      expect(
        render('{{ .Format "2006-01-02T15:04:05.000Z07:00" }} {{ .Unix }} {{ .Month }} {{ .Weekday }}', t)
      ).toBe("2026-03-14T09:26:53.500Z 1773480413 March Saturday")
      expect(render("{{ .UnixNano }} {{ .IsZero }} {{ .Year }}", t)).toBe("1773480413500000000 false 2026")
    })
  })

  describe("actions", () => {
    it("trims spaces around {{- and -}}", () => {
      expect(render("a  {{- 1 -}}  b {{- /* note */ -}} c\n {{ 2 -}}\n")).toBe("a1bc\n 2")
    })

    it("ranges over slices, maps (in key order), integers, with else, break and continue", () => {
      expect(render("{{ range $i, $v := . }}{{ $i }}={{ $v }} {{ end }}", ["a", "b"])).toBe("0=a 1=b ")
      expect(render("{{ range $k, $v := . }}{{ $k }}={{ $v }} {{ end }}", m({ b: 1, a: 2 }))).toBe("a=2 b=1 ")
      expect(render("{{ range 3 }}{{ . }}{{ end }}")).toBe("012")
      expect(render("{{ range . }}x{{ else }}empty{{ end }}", [])).toBe("empty")
      expect(
        render(
          "{{ range . }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}",
          [1, 2, 3, 4, 5]
        )
      ).toBe("13")
    })

    it("branches with if, else if, with and else with", () => {
      expect(render("{{ if 0 }}a{{ else if .x }}b{{ else }}c{{ end }}", m({ x: "y" }))).toBe("b")
      expect(render("{{ with .x }}{{ . }}{{ else }}none{{ end }}", m({}))).toBe("none")
      expect(render("{{ with 0 }}a{{ else with 2 }}b{{ . }}{{ end }}")).toBe("b2")
    })

    it("declares and assigns variables", () => {
      expect(
        render("{{ $x := 1 }}{{ range list 2 3 }}{{ $x = . }}{{ end }}{{ $x }} {{ $.a }}", m({ a: "root" }))
      ).toBe("3 root")
    })

    it("defines, invokes and overrides templates", () => {
      expect(
        render('{{ define "T" }}<{{ . }}>{{ end }}{{ template "T" 1 }}{{ block "B" 2 }}[{{ . }}]{{ end }}')
      ).toBe("<1>[2]")
      expect(() =>
        GoTemplate.parse('{{ define "B" }}override{{ end }}{{ block "B" . }}default{{ end }}')
      ).toThrow('template: template:1: template: multiple definition of template "B"')
    })

    it("reads constants as Go does", () => {
      expect(
        render(
          "{{ 'a' }} {{ 0x1F }} {{ 0o17 }} {{ 1_000 }} {{ 1.5e3 }} {{ .5 }} {{ `raw\\n` }} {{ \"\\u00e9\" }}"
        )
      ).toBe("97 31 15 1000 1500 0.5 raw\\n é")
    })
  })

  describe("builtins", () => {
    it("and, or, not short-circuit and return operands", () => {
      expect(
        render('{{ and 1 0 2 }} {{ or 0 "" 3 }} {{ not 0 }} {{ and 0 (fail "no") }} {{ or 1 (fail "no") }}')
      ).toBe("0 3 true 0 1")
    })

    it("compares with eq (several operands), ne, lt, le, gt, ge", () => {
      expect(
        render('{{ eq 1 2 1 }} {{ ne "a" "b" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt 1.5 1.2 }} {{ ge "b" "a" }}')
      ).toBe("true true true true true true")
      expect(failure("{{ lt 1 1.5 }}").reason).toBe(
        "error calling lt: incompatible types for comparison: int and float64"
      )
    })

    it("len, index, print, println, html, js, urlquery", () => {
      expect(
        render('{{ len "héllo" }} {{ index "abc" 1 }} {{ index (list 1 2) 1 }} {{ index (dict "a" 1) "a" }}')
      ).toBe("6 98 2 1")
      expect(render('{{ print 1 2 "a" "b" 3 }}|{{ println 1 "a" }}')).toBe("1 2ab3|1 a\n")
      expect(render(`{{ html "<a href='x'>&" }} {{ js "a'b<c" }} {{ urlquery "a b&c" }}`)).toBe(
        "&lt;a href=&#39;x&#39;&gt;&amp; a\\'b\\u003Cc a+b%26c"
      )
    })

    it("call calls a function value", () => {
      expect(render("{{ call .f 2 3 }}", m({ f: (a: number, b: number) => a * b }))).toBe("6")
      expect(failure("{{ call .f }}", m({ f: 3 })).reason).toBe(
        "error calling call: non-function .f of type int"
      )
    })
  })

  describe("the Effect API", () => {
    it.effect("parses and executes as Effects", () =>
      Effect.gen(function* () {
        const template = yield* GoTemplate.parseEffect("{{ .x | upper }}")
        expect(yield* GoTemplate.executeEffect(template, m({ x: "a" }))).toBe("A")
        const parseExit = yield* Effect.exit(GoTemplate.parseEffect("{{ if }}"))
        expect(Exit.isFailure(parseExit)).toBe(true)
        const execError = yield* Effect.flip(GoTemplate.executeEffect(template, m({ x: 1 })))
        expect(execError._tag).toBe("TemplateError")
        expect(execError.phase).toBe("execute")
      })
    )
  })
})
