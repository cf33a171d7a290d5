/**
 * Drop-in values: every value of the Go handler's chart 0.27.6 (listed in fixtures/go-chart-values.yaml, with its
 * default and where the Go chart puts it) is a value of nth's chart with the same default, and set to something
 * else it reaches the program as the Go chart would pass it: the same environment variable, the same pod spec
 * field, the same object. The values nth refuses on purpose (logFormatVersion other than 1) make the
 * render fail with a message naming them.
 *
 * Each value is rendered twice per mode it is checked in: with it (its checks must hold) and without it (at
 * least one of its checks must fail: the value, not the surroundings, made the difference).
 *
 * NTH_DROP_IN_GO_CHART=<dir of the Go handler's chart 0.27.6> runs the same checks against that chart instead,
 * to keep the fixture true to it: no difference in defaults, no refusal, every check holds.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { ChartTools } from "@nth/testbed"
import { beforeAll, describe, expect, it } from "vitest"
import { parse } from "yaml"
import {
  chart,
  file,
  type KubeObject,
  type Outcome,
  objectsOf,
  prepare,
  run,
  tools,
  work
} from "./harness.ts"

const workloads: ReadonlyArray<string> = ["linux", "windows", "deployment"]

interface Check {
  /** linux, windows, deployment, an object's kind, or * (every object). */
  readonly in: string
  readonly mode?: string
  readonly env?: string
  readonly path?: string
  readonly equals?: unknown
  readonly includes?: Record<string, unknown>
  readonly contains?: Record<string, unknown>
  readonly absent?: boolean
}

interface Entry {
  readonly value: string
  readonly goDefault: unknown
  readonly set: unknown
  readonly appliesTo: ReadonlyArray<string>
  readonly with?: Record<string, unknown>
  readonly kubeVersion?: string
  readonly refusedByNth?: string
  readonly expect?: ReadonlyArray<Omit<Check, "in">>
  readonly checks?: ReadonlyArray<Check>
}

interface Fixture {
  readonly modes: Record<string, Record<string, unknown>>
  readonly values: ReadonlyArray<Entry>
}

const fixture = parse(
  readFileSync(join(import.meta.dirname, "fixtures", "go-chart-values.yaml"), "utf8")
) as Fixture
const goChart = process.env.NTH_DROP_IN_GO_CHART
const chartDir = goChart ?? chart
const goImage = "public.ecr.aws/aws-ec2/aws-node-termination-handler"

/**
 * Where nth's values.yaml differs from the Go chart's on purpose, and nowhere else: nth's image, and a container
 * securityContext that also meets the Pod Security "restricted" profile. (image.tag keeps the Go default, "",
 * but falls back to the chart's appVersion as is, where the Go chart prefixes it with "v": checked below.)
 */
const knownDifferences: Record<string, unknown> = {
  "image.repository": "ghcr.io/nth/aws-node-termination-handler",
  securityContext: {
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    runAsUser: 1000,
    runAsGroup: 1000,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering: helm template of the chart under test, at most a few at once, each distinct render once.
// ---------------------------------------------------------------------------------------------------------------

const parallelRenders = 4
let running = 0
const waiting: Array<() => void> = []
const inTurn = async <T>(job: () => Promise<T>): Promise<T> => {
  while (running >= parallelRenders) await new Promise<void>((resolve) => waiting.push(resolve))
  running += 1
  try {
    return await job()
  } finally {
    running -= 1
    waiting.shift()?.()
  }
}

const renders = new Map<string, Promise<Outcome>>()
const helmTemplate = (args: ReadonlyArray<string>): Promise<Outcome> => {
  const key = JSON.stringify(args)
  let outcome = renders.get(key)
  if (outcome === undefined) {
    outcome = inTurn(() =>
      run(tools().helm, [
        "template",
        "aws-node-termination-handler",
        chartDir,
        "--namespace",
        "kube-system",
        ...args
      ])
    )
    renders.set(key, outcome)
  }
  return outcome
}

/** How a user would set the value: --set for a boolean or number, --set-string for plain text, else JSON. */
const setting = (path: string, value: unknown): Array<string> => {
  if (typeof value === "boolean" || typeof value === "number") return ["--set", `${path}=${value}`]
  if (typeof value === "string" && /^[^,\\{}[\]]+$/.test(value)) return ["--set-string", `${path}=${value}`]
  return ["--set-json", `${path}=${JSON.stringify(value)}`]
}
const settings = (values: Record<string, unknown> | undefined) =>
  Object.entries(values ?? {}).flatMap(([path, value]) => ["--set-json", `${path}=${JSON.stringify(value)}`])

const argsOf = (entry: Entry, mode: string, options: { value: boolean; with: boolean }) => {
  const base = fixture.modes[mode]
  if (base === undefined) throw new Error(`${entry.value}: no mode ${mode} in the fixture`)
  return [
    ...(entry.kubeVersion === undefined ? [] : ["--kube-version", entry.kubeVersion]),
    ...settings(base),
    ...(options.with ? settings(entry.with) : []),
    ...(options.value ? setting(entry.value, entry.set) : [])
  ]
}

/** The objects of a render that must succeed. */
const objectsFor = async (args: ReadonlyArray<string>) => {
  const outcome = await helmTemplate(args)
  expect(outcome.stderr, `helm template ${args.join(" ")}`).toBe("")
  expect(outcome.code).toBe(0)
  return { manifest: outcome.stdout, objects: await objectsOf(outcome.stdout) }
}

// ---------------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------------

const checksOf = (entry: Entry): Array<Check> => [
  ...(entry.expect ?? []).flatMap((check) =>
    entry.appliesTo.filter((target) => workloads.includes(target)).map((target) => ({ ...check, in: target }))
  ),
  ...(entry.checks ?? [])
]

const modeOf = (check: Check) => check.mode ?? (check.in === "deployment" ? "queue" : "imds")

const osOf = (o: KubeObject) =>
  (o.spec?.template?.spec?.nodeSelector as Record<string, string> | undefined)?.["kubernetes.io/os"]

const pick = (objects: ReadonlyArray<KubeObject>, target: string): Array<KubeObject> => {
  if (target === "*") return [...objects]
  if (target === "linux" || target === "windows") {
    return objects.filter((o) => o.kind === "DaemonSet" && osOf(o) === target)
  }
  if (target === "deployment") return objects.filter((o) => o.kind === "Deployment")
  return objects.filter((o) => o.kind === target)
}

const fullPath = (path: string) =>
  path
    .replace(/^pod(\.|$)/, "spec.template.spec$1")
    .replace(/^container(\.|$)/, "spec.template.spec.containers.name=aws-node-termination-handler$1")

/** The field at a dotted path: keys, list indexes, name=x for the list item named x. */
const at = (root: unknown, path: string): unknown => {
  let node = root
  for (const segment of fullPath(path).split(".")) {
    if (Array.isArray(node)) {
      node = segment.startsWith("name=")
        ? node.find((item: { name?: unknown } | null) => item?.name === segment.slice("name=".length))
        : node[Number(segment)]
    } else if (typeof node === "object" && node !== null) {
      node = (node as Record<string, unknown>)[segment]
    } else {
      return undefined
    }
  }
  return node
}

const envOf = (o: KubeObject, name: string): unknown => {
  const entries = (at(o, "container.env") ?? []) as ReadonlyArray<{
    name: string
    value?: unknown
    valueFrom?: unknown
  }>
  const found = entries.filter((e) => e.name === name)
  expect(found.length, `${o.kind}/${o.metadata.name} has ${name} more than once`).toBeLessThanOrEqual(1)
  return found[0] === undefined ? undefined : (found[0].value ?? found[0].valueFrom)
}

const describeCheck = (check: Check) => {
  const { in: target, mode, ...rest } = check
  return `${target} (${mode ?? modeOf(check)}) ${JSON.stringify(rest)}`
}

/** Asserts a check on a render's objects. */
const verify = (check: Check, objects: ReadonlyArray<KubeObject>) => {
  const found = pick(objects, check.in)
  const what = describeCheck(check)
  if (check.absent && check.env === undefined && check.path === undefined) {
    expect(
      found.map((o) => `${o.kind}/${o.metadata.name}`),
      what
    ).toEqual([])
    return
  }
  if (check.in === "*") expect(found.length, what).toBeGreaterThan(0)
  else
    expect(
      found.map((o) => `${o.kind}/${o.metadata.name}`),
      what
    ).toHaveLength(1)
  for (const object of found) {
    const actual = check.env !== undefined ? envOf(object, check.env) : at(object, check.path ?? "")
    const where = `${object.kind}/${object.metadata.name}: ${what}`
    if (check.absent) expect(actual, where).toBeUndefined()
    else if (check.includes !== undefined) expect(actual, where).toMatchObject(check.includes)
    else if (check.contains !== undefined)
      expect(actual, where).toContainEqual(expect.objectContaining(check.contains))
    else expect(actual, where).toEqual(check.equals)
  }
}

const holds = (check: Check, objects: ReadonlyArray<KubeObject>) => {
  try {
    verify(check, objects)
    return true
  } catch {
    return false
  }
}

/** A value path's value in a values tree, or undefined. */
const valueAt = (values: unknown, path: string) =>
  path.split(".").reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], values)

/** Every leaf path of a values tree, not descending into the maps that are values themselves (`stop`). */
const leaves = (values: Record<string, unknown>, stop: ReadonlySet<string>, prefix = ""): Array<string> =>
  Object.entries(values).flatMap(([key, value]) => {
    const path = `${prefix}${key}`
    return !stop.has(path) && typeof value === "object" && value !== null && !Array.isArray(value)
      ? leaves(value as Record<string, unknown>, stop, `${path}.`)
      : [path]
  })

// Every render that has a value set, for one kubeconform pass at the end.
const manifests: Array<{ value: string; path: string }> = []

describe(`the Go handler's chart values (0.27.6) on ${goChart === undefined ? "nth's chart" : goChart}`, () => {
  beforeAll(prepare, 900_000)

  const values = parse(readFileSync(join(chartDir, "values.yaml"), "utf8")) as Record<string, unknown>
  const paths = fixture.values.map((entry) => entry.value)

  it("the fixture lists each value once, each with something to check", () => {
    expect(new Set(paths).size).toBe(paths.length)
    for (const entry of fixture.values) {
      expect(checksOf(entry).length, entry.value).toBeGreaterThan(0)
      expect(entry.set, entry.value).not.toEqual(entry.goDefault)
    }
  })

  it("every one is a value of the chart, with the Go chart's default but for the known differences", () => {
    const differences = goChart === undefined ? knownDifferences : {}
    for (const entry of fixture.values) {
      const expected = entry.value in differences ? differences[entry.value] : entry.goDefault
      expect(valueAt(values, entry.value), entry.value).toEqual(expected)
    }
    // The differences are differences, and are all fixture values.
    for (const [path, value] of Object.entries(differences)) {
      expect(paths).toContain(path)
      expect(value, path).not.toEqual(fixture.values.find((e) => e.value === path)?.goDefault)
    }
  })

  it("the chart has no value the Go chart lacks", () => {
    const covered = new Set(paths)
    expect(leaves(values, covered).filter((path) => !covered.has(path))).toEqual([])
  })

  it("with image.tag empty, the image is tagged with the chart's appVersion (the Go chart: v + appVersion)", async () => {
    const appVersion = String(
      (parse(readFileSync(join(chartDir, "Chart.yaml"), "utf8")) as { appVersion: unknown }).appVersion
    )
    const { objects } = await objectsFor(settings(fixture.modes.imds))
    const repository = goChart === undefined ? knownDifferences["image.repository"] : goImage
    const tag = goChart === undefined ? appVersion : `v${appVersion}`
    for (const workload of ["linux", "windows"]) {
      verify({ in: workload, path: "container.image", equals: `${repository}:${tag}` }, objects)
    }
  })

  it.concurrent.each(fixture.values.map((entry) => [entry.value, entry] as const))("%s", async (_, entry) => {
    const checks = checksOf(entry)
    const modes = [...new Set(checks.map(modeOf))]
    if (entry.refusedByNth !== undefined && goChart === undefined) {
      // Refused in every mode it acts in, by name; set alone, so that the message can only be about it.
      for (const mode of modes) {
        const outcome = await helmTemplate(argsOf(entry, mode, { value: true, with: false }))
        expect(outcome.code, `${entry.value} in ${mode} mode`).not.toBe(0)
        expect(outcome.stderr).toContain(entry.value)
        expect(outcome.stderr, "a deliberate refusal, not a type error").not.toMatch(/schema/i)
      }
      return
    }
    const withValue = new Map<string, ReadonlyArray<KubeObject>>()
    const without = new Map<string, ReadonlyArray<KubeObject>>()
    await Promise.all(
      modes.map(async (mode) => {
        const args = argsOf(entry, mode, { value: true, with: true })
        const [rendered, baseline] = await Promise.all([
          objectsFor(args),
          objectsFor(argsOf(entry, mode, { value: false, with: true }))
        ])
        withValue.set(mode, rendered.objects)
        without.set(mode, baseline.objects)
        manifests.push({ value: `${entry.value} (${mode})`, path: file("drop-in.yaml", rendered.manifest) })
      })
    )
    for (const check of checks) verify(check, withValue.get(modeOf(check)) ?? [])
    const unchanged = checks.filter((check) => holds(check, without.get(modeOf(check)) ?? []))
    expect(unchanged.length, `every check holds without ${entry.value} set`).toBeLessThan(checks.length)
  })

  it("every render with a value set is valid against the test bed's API (the monitors' and PSP's kinds aside)", async () => {
    expect(manifests.length).toBeGreaterThan(0)
    const outcome = await run(tools().kubeconform, [
      "-schema-location",
      ChartTools.schemaLocation(join(work, "schemas")),
      "-skip",
      "ServiceMonitor,PodMonitor,PodSecurityPolicy",
      "-summary",
      "-output",
      "json",
      ...manifests.map((m) => m.path)
    ])
    const report = JSON.parse(outcome.stdout) as {
      resources?: ReadonlyArray<{ filename: string; kind: string; name: string; status: string; msg: string }>
    }
    const byFile = new Map(manifests.map((m) => [m.path, m.value]))
    const invalid = (report.resources ?? [])
      .filter((r) => r.status !== "statusValid" && r.status !== "statusSkipped")
      .map((r) => `${byFile.get(r.filename)}: ${r.kind}/${r.name}: ${r.msg}`)
    expect(invalid).toEqual([])
  })
})
