import { describe, expect, it } from "@effect/vitest"
import { GoTemplate } from "../src/index.ts"

// Expected outputs are Go's, with Sprig v3.2.3's function map, recorded with the test bed's template oracle.
describe("Sprig", () => {
  it.each([
    [
      '{{ upper "héllo" }}|{{ lower "HÉLLO" }}|{{ title "hello wORLD-foo_bar" }}|{{ untitle "Hello World" }}|{{ swapcase "Hello wORLD" }}|{{ trim "  x  " }}|{{ trimAll "$" "$$a$$" }}|{{ trimPrefix "a" "aab" }}|{{ trimSuffix "b" "abb" }}',
      "HÉLLO|héllo|Hello WORLD-Foo_bar|hello world|hELLO World|x|a|ab|ab"
    ],
    [
      '{{ trunc 5 "hello world" }}|{{ trunc -5 "hello world" }}|{{ substr 1 3 "hello" }}|{{ repeat 3 "ab" }}|{{ nospace "h e l l o" }}|{{ abbrev 5 "hello world" }}|{{ abbrevboth 5 10 "1234 5678 9123 4567" }}|{{ initials "hello big world" }}',
      "hello|world|el|ababab|hello|he...|...5678...|hbw"
    ],
    [
      '{{ wrap 5 "hello world foo bar" }}|{{ wrapWith 5 "<br>" "hello world" }}|{{ indent 2 "a\\nb" }}|{{ nindent 2 "a" }}|{{ replace "a" "b" "banana" }}|{{ plural "one" "many" 2 }}',
      "hello\nworld\nfoo\nbar|hello<br>world|  a\n  b|\n  a|bbnbnb|many"
    ],
    [
      '{{ snakecase "HelloWorld" }} {{ snakecase "HTTPServerError" }} {{ snakecase "userID42X" }} {{ kebabcase "FooBar_baz" }} {{ camelcase "hello_world-foo bar" }} {{ camelcase "helloWorld" }}',
      "hello_world http_server_error user_id42_x foo-bar-baz HelloWorldFooBar Helloworld"
    ],
    [
      '{{ contains "ell" "hello" }} {{ hasPrefix "he" "hello" }} {{ hasSuffix "lo" "hello" }} {{ quote "a" 1 nil "b\\"" }} {{ squote "a" 1 }} {{ cat "a" 1 nil "b" }}',
      'true true true "a" "1" "b\\"" \'a\' \'1\' a 1 b'
    ],
    [
      '{{ split "," "a,b,c" }} {{ splitList "," "a,b,c" }} {{ splitn "," 2 "a,b,c" }} {{ toStrings (list 1 "a" nil) }} {{ join "-" (list 1 "a") }} {{ sortAlpha (list "b" "a" "C") }}',
      "map[_0:a _1:b _2:c] [a b c] map[_0:a _1:b,c] [1 a] 1-a [C a b]"
    ],
    [
      "{{ until 5 }} {{ untilStep 1 10 3 }} {{ seq 5 }} {{ seq 2 5 }} {{ seq 5 2 }} {{ seq 1 2 10 }}",
      "[0 1 2 3 4] [1 4 7] 1 2 3 4 5 2 3 4 5 5 4 3 2 1 3 5 7 9"
    ],
    [
      '{{ add 1 2 3 }} {{ add1 5 }} {{ sub 5 3 }} {{ div 7 2 }} {{ mod 7 3 }} {{ mul 2 3 4 }} {{ max 1 9 3 }} {{ min 4 2 8 }} {{ add 1.9 2.9 }} {{ add "3" "4" }}',
      "6 6 2 3 1 24 9 2 3 7"
    ],
    [
      "{{ addf 1.1 2.2 }} {{ subf 5 1.1 }} {{ mulf 1.1 3 }} {{ divf 1 3 }} {{ maxf 1 2.5 }} {{ minf 1 2.5 }} {{ floor 1.5 }} {{ ceil 1.2 }} {{ round 1.2345 2 }} {{ round -1.5 0 }}",
      "3.3 3.9 3.3 0.3333333333333333 2.5 1 1 2 1.23 -2"
    ],
    [
      '{{ int "12" }} {{ int64 "0x1F" }} {{ float64 "1.5" }} {{ int 3.9 }} {{ atoi "42" }} {{ atoi "x" }} {{ int "3.0" }} {{ toDecimal "777" }} {{ typeOf (int64 3) }} {{ typeOf (float64 1) }}',
      "12 31 1.5 3 42 0 0 511 int64 float64"
    ],
    [
      '{{ default "d" 0 }} {{ default "d" "x" }} {{ default "d" (list) }} {{ default "d" nil }} {{ empty "" }} {{ empty 1 }} {{ coalesce 0 "" "a" }} {{ all 1 "" }} {{ any 0 1 }} {{ ternary "y" "n" false }}',
      "d x d d true false a false true n"
    ],
    [
      '{{ list 1 2 3 | first }} {{ list 1 2 3 | last }} {{ list 1 2 3 | rest }} {{ list 1 2 3 | initial }} {{ list 1 2 | reverse }} {{ list 1 1 2 | uniq }} {{ without (list 1 2 3) 2 }} {{ has 2 (list 1 2) }} {{ compact (list 0 1 "" "a") }}',
      "1 3 [2 3] [1 2] [2 1] [1 2] [1 3] true [1 a]"
    ],
    [
      "{{ append (list 1) 2 }} {{ prepend (list 1) 0 }} {{ concat (list 1) (list 2 3) }} {{ slice (list 1 2 3 4) 1 3 }} {{ chunk 2 (list 1 2 3 4 5) }} {{ list | first }} {{ list | rest }}",
      "[1 2] [0 1] [1 2 3] [2 3] [[1 2] [3 4] [5]] <no value> []"
    ],
    [
      '{{ dict "a" 1 "b" "x" }} {{ $d := dict "a" 1 }}{{ set $d "b" 2 }} {{ unset $d "a" }} {{ hasKey $d "b" }} {{ get $d "b" }} {{ keys (dict "b" 1 "a" 2) | sortAlpha }} {{ pick (dict "a" 1 "b" 2) "a" }} {{ omit (dict "a" 1 "b" 2) "a" }} {{ pluck "a" (dict "a" 1) (dict "a" 2) }}',
      "map[a:1 b:x] map[a:1 b:2] map[b:2] true 2 [a b] map[a:1] map[b:2] [1 2]"
    ],
    [
      '{{ merge (dict "a" 1 "b" "") (dict "b" 2 "c" 3) }} {{ mergeOverwrite (dict "a" 1) (dict "a" 5 "c" 3) }} {{ dig "a" "b" "def" (dict "a" (dict "b" 7)) }} {{ dig "a" "z" "def" (dict "a" (dict "b" 7)) }}',
      "map[a:1 b:2 c:3] map[a:5 c:3] 7 def"
    ],
    [
      '{{ toJson (dict "a" 1 "b" (list 1.5 "x<y" nil true)) }} {{ toRawJson (dict "h" "<b>&") }} {{ toJson 1e21 }} {{ toJson 0.000001 }} {{ fromJson "{\\"a\\":[1,2]}" }} {{ (fromJson "{\\"a\\":1}").a }}',
      '{"a":1,"b":[1.5,"x\\u003cy",null,true]} {"h":"<b>&"} 1e+21 0.000001 map[a:[1 2]] 1'
    ],
    [
      '{{ toPrettyJson (dict "a" (list) "b" (dict) "c" (list 1 (dict "d" 2))) }}',
      '{\n  "a": [],\n  "b": {},\n  "c": [\n    1,\n    {\n      "d": 2\n    }\n  ]\n}'
    ],
    [
      '{{ b64enc "héllo" }} {{ b64dec "aMOpbGxv" }} {{ b64dec "!!" }} {{ b32enc "héllo" }} {{ b32dec "NBSWY3DP" }} {{ sha1sum "abc" }} {{ sha256sum "abc" }} {{ adler32sum "Wikipedia" }}',
      "aMOpbGxv héllo illegal base64 data at input byte 0 NDB2S3DMN4====== hello a9993e364706816aba3e25717850c26c9cd0d89d ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad 300286872"
    ],
    [
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a Go regexp replacement, not a JS template
      '{{ regexMatch "^[a-z]+$" "abc" }} {{ regexFind "[0-9]+" "ab12cd34" }} {{ regexFindAll "[0-9]" "a1b2c3" 2 }} {{ regexReplaceAll "(\\\\w+)@(\\\\w+)" "a@b c@d" "$2 at ${1}" }} {{ regexReplaceAllLiteral "a" "banana" "$1" }} {{ regexSplit "\\\\s+" "a  b c" -1 }} {{ regexQuoteMeta "a.b*c" }}',
      "true 12 [1 2] b at a d at c b$1n$1n$1 [a b c] a\\.b\\*c"
    ],
    [
      '{{ base "/a/b.txt" }} {{ dir "/a/b.txt" }} {{ ext "x/y.tar.gz" }} {{ clean "a//b/../c/." }} {{ isAbs "/x" }}',
      "b.txt /a .gz a/c true"
    ],
    [
      '{{ semverCompare "^1.2.0" "1.5.0" }} {{ semverCompare "~1.2.0" "1.3.0" }} {{ semverCompare ">=1.0, <2.0" "1.9.9" }} {{ semverCompare "1.0 - 2.0" "1.5.0" }} {{ (semver "v1.2.3-beta+b1").Prerelease }} {{ semver "1.2" }}',
      "true false true true beta 1.2.0"
    ],
    [
      '{{ typeOf 1 }} {{ typeOf 1.5 }} {{ typeOf (list) }} {{ typeOf (dict) }} {{ typeOf nil }} {{ kindOf 1 }} {{ kindOf (list) }} {{ kindOf nil }} {{ typeIs "int" 1 }} {{ kindIs "slice" (list) }} {{ deepEqual (list 1 2) (list 1 2) }}',
      "int float64 []interface {} map[string]interface {} <nil> int slice invalid true true true"
    ],
    [
      '{{ duration "3600" }} {{ duration 90 }} {{ durationRound "49h" }} {{ durationRound "3000h" }} {{ toDate "2006-01-02" "2024-02-29" }} {{ toDate "2006-01-02" "bad" }} {{ unixEpoch (toDate "2006-01-02" "2024-01-01") }}',
      "1h0m0s 0s 2d 4mo 2024-02-29 00:00:00 +0000 UTC 0001-01-01 00:00:00 +0000 UTC 1704067200"
    ],
    [
      '{{ $t := toDate "2006-01-02T15:04:05Z07:00" "2024-07-10T08:09:10+02:00" }}{{ $t }} {{ date "2006-01-02 15:04" $t }} {{ dateInZone "15:04 MST" $t "America/New_York" }} {{ htmlDate $t }} {{ dateModify "-1.5h" $t }} {{ date "2006" 0 }}',
      "2024-07-10 08:09:10 +0200 +0200 2024-07-10 06:09 02:09 EDT 2024-07-10 2024-07-10 06:39:10 +0200 +0200 1970"
    ],
    [
      '{{ urlParse "https://user:pw@example.com:8443/a%20b?x=1#frag" }} {{ urlJoin (dict "scheme" "https" "host" "example.com" "path" "/a b" "query" "x=1") }}',
      "map[fragment:frag host:example.com:8443 hostname:example.com opaque: path:/a b query:x=1 scheme:https userinfo:user:pw] https://example.com/a%20b?x=1"
    ]
  ])("%s", (template, expected) => {
    expect(GoTemplate.render(template, undefined)).toBe(expected)
  })

  it("gives random and environment functions their shapes", () => {
    expect(
      GoTemplate.render(
        '{{ uuidv4 | len }} {{ randAlphaNum 10 | len }} {{ randNumeric 4 | regexMatch "^[0-9]{4}$" }}',
        undefined
      )
    ).toBe("36 10 true")
    expect(
      GoTemplate.render('{{ shuffle "abc" | len }} {{ randInt 1 2 }} {{ randBytes 6 | len }}', undefined)
    ).toBe("3 1 8")
    process.env.NTH_GO_TEMPLATE_TEST = "set"
    expect(
      GoTemplate.render(
        '{{ env "NTH_GO_TEMPLATE_TEST" }} {{ expandenv "<$NTH_GO_TEMPLATE_TEST>" }}',
        undefined
      )
    ).toBe("set <set>")
  })

  it("keeps Sprig's quirks", () => {
    // duration takes a string or an int64 number of seconds; an int is 0.
    expect(GoTemplate.render("{{ duration 90 }} {{ duration (int64 90) }}", undefined)).toBe("0s 1m30s")
    // toDate fails silently to the zero time; mustToDate reports Go's parse error.
    expect(() => GoTemplate.render('{{ mustToDate "2006-01-02" "2024-13-01" }}', undefined)).toThrow(
      'error calling mustToDate: parsing time "2024-13-01": month out of range'
    )
    // regexFind panics on a bad expression, mustRegexFind returns the error.
    expect(() => GoTemplate.render('{{ regexFind "(" "a" }}', undefined)).toThrow(
      "error calling regexFind: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`"
    )
  })
})
