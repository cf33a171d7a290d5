import { describe, expect, it } from "@effect/vitest"
import { GoTemplate } from "../src/index.ts"
import { formatFloat } from "../src/internal/strconv.ts"

// Expected outputs are Go's (text/template and fmt), recorded with the test bed's template oracle.
describe("printf and printing", () => {
  it.each([
    [
      '{{ printf "%d|%5d|%-5d|%05d|%+d|% d|%x|%X|%#x|%o|%#o|%O|%b|%c|%q|%U|%#U" 42 42 42 -42 42 42 255 255 255 8 8 8 5 233 233 128512 9731 }}',
      "42|   42|42   |-0042|+42| 42|ff|FF|0xff|10|010|0o10|101|é|'é'|U+1F600|U+2603 '☃'"
    ],
    [
      '{{ printf "%s|%10s|%-10s|%.2s|%q|%#q|%+q|%x|% X" "héllo" "abc" "abc" "héllo" "a\\"b\\n" "back`q" "héllo" "hi" "hi" }}',
      'héllo|       abc|abc       |hé|"a\\"b\\n"|"back`q"|"h\\u00e9llo"|6869|68 69'
    ],
    [
      '{{ printf "%v|%v|%v|%v|%v|%v|%v" 1e6 1e20 1e21 0.0001 0.00001 123456789.0 100000.0 }}',
      "1e+06|1e+20|1e+21|0.0001|1e-05|1.23456789e+08|100000"
    ],
    [
      '{{ printf "%f|%.2f|%8.3f|%-8.1f|%08.2f|%+.1f|% .1f" 3.14159 3.14159 3.14159 3.14159 -3.14159 3.14159 3.14159 }}',
      "3.141590|3.14|   3.142|3.1     |-0003.14|+3.1| 3.1"
    ],
    [
      '{{ printf "%.0f %.0f %.0f %.1f %.1f %.2f %.2f" 0.5 1.5 2.5 0.25 0.35 1.005 2.675 }}',
      "0 2 2 0.2 0.3 1.00 2.67"
    ],
    [
      '{{ printf "%e|%E|%.2e|%g|%G|%.3g|%#g|%#.3g|%g" 123456.789 0.000123 1.0 1e-7 1e21 3.14159 1.0 2.0 100000.0 }}',
      "1.234568e+05|1.230000E-04|1.00e+00|1e-07|1E+21|3.14|1.00000|2.00|100000"
    ],
    ['{{ printf "%t|%v|%5t" true false true }}', "true|false| true"],
    [
      '{{ printf "%s %d" 1 "x" }}|{{ printf "%d" }}|{{ printf "%d" 1 2 }}|{{ printf "%z" 3 }}|{{ printf "%!" }}|{{ printf "%" }}|{{ printf "%d" nil }}',
      "%!s(int=1) %!d(string=x)|%!d(MISSING)|1%!(EXTRA int=2)|%!z(int=3)|%!!(MISSING)|%!(NOVERB)|%!d(<nil>)"
    ],
    [
      '{{ printf "%[2]d %[1]d|%[3]d|%*d|%-*d|%.*f" 1 2 5 42 5 42 2 3.14159 }}',
      "2 1|5|                                         5|2                                         |%!(BADPREC)%!f(MISSING)"
    ],
    [
      '{{ printf "%v|%+v|%#v|%d|%T" (list 1 "a" nil) (list 1 "a" nil) (list 1 "a" nil) (list 1 2) (list 1) }}',
      '[1 a <nil>]|[1 a <nil>]|[]interface {}{1, "a", interface {}(nil)}|[1 2]|[]interface {}'
    ],
    [
      '{{ printf "%v|%#v|%T" (dict "b" 1 "a" (list 2)) (dict "a" 1) (dict) }}',
      'map[a:[2] b:1]|map[string]interface {}{"a":1}|map[string]interface {}'
    ],
    ['{{ printf "%5.1v|%x|%X|%v|%q" 3.14159 3.5 "hi" (int64 5) 65 }}', "    3|0x1.cp+01|6869|5|'A'"],
    [
      '{{ printf "%v %v %v %v" 0.1 0.3 2.5e-10 123456789012345678.0 }}',
      "0.1 0.3 2.5e-10 1.2345678901234568e+17"
    ]
  ])("%s", (template, expected) => {
    expect(GoTemplate.render(template, undefined)).toBe(expected)
  })
})

describe("strconv.FormatFloat", () => {
  it.each([
    [1e21, "g", -1, "1e+21"],
    [123456789, "g", -1, "1.23456789e+08"],
    [0.1 + 0.2, "g", -1, "0.30000000000000004"],
    [5e-324, "g", -1, "5e-324"],
    [1.7976931348623157e308, "e", -1, "1.7976931348623157e+308"],
    [0.125, "f", 2, "0.12"],
    [0.375, "f", 2, "0.38"],
    [2.5, "f", 0, "2"],
    [1234.5678, "e", 3, "1.235e+03"],
    [0.000012345, "g", 3, "1.23e-05"],
    [100, "g", 2, "1e+02"],
    [-0, "g", -1, "-0"],
    [Number.NaN, "f", 2, "NaN"],
    [Number.NEGATIVE_INFINITY, "g", -1, "-Inf"]
  ])("%s as %s with precision %s", (x, fmt, prec, expected) => {
    expect(formatFloat(x as number, fmt as string, prec as number)).toBe(expected)
  })
})
