/**
 * The release check (`pnpm release:check`, and part of `pnpm test`): every publishable package packed as
 * `pnpm publish` would pack it, linted (publint, "are the types wrong"), installed into a project outside the
 * workspace with plain npm, and each README's example (the block whose first line names its file) type-checked
 * with `nodenext` resolution and run as the README says, against the test bed. The packages must be built.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ImdsMock } from "@nth/imds-mock"
import { Programs, useTestBed } from "@nth/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Consumer from "../src/consumer.ts"
import { type Example, examplesIn } from "../src/examples.ts"
import * as Packages from "../src/packages.ts"

const bed = useTestBed()
const scratch = mkdtempSync(join(tmpdir(), "nth-release-"))
const packages = Packages.publishable()
const examples = new Map<string, ReadonlyArray<Example>>(packages.map((p) => [p.name, examplesIn(p.readme)]))
let packed: ReadonlyArray<Packages.Packed> = []
let consumer: Consumer.Consumer

beforeAll(async () => {
  packed = await Promise.all(packages.map((p) => Packages.pack(p, join(scratch, "tarballs"))))
  consumer = await Consumer.install(join(scratch, "consumer"), packed, [...examples.values()].flat())
  console.log(
    `release check: ${packed.length} packages packed; npm install took ${consumer.installSeconds} s`
  )
}, 600_000)
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const packedOf = (name: string) => packed.find((p) => p.name === name)!

describe.each(packages.map((p) => [p.name] as const))("%s as published", (name) => {
  it("packs its build, README and manifest only, with no workspace ranges and exports into dist", () => {
    const p = packedOf(name)
    expect(p.files).toEqual(
      expect.arrayContaining(["package.json", "README.md", "dist/index.js", "dist/index.d.ts"])
    )
    expect(
      p.files.filter((file) => !/^(package\.json|README\.md|CHANGELOG\.md|dist\/.*)$/.test(file))
    ).toEqual([])
    const ranges = { ...p.manifest.dependencies, ...p.manifest.peerDependencies }
    expect(Object.entries(ranges).filter(([, range]) => range.startsWith("workspace:"))).toEqual([])
    expect(JSON.stringify(p.manifest.exports)).not.toContain("./src/")
  })

  it("passes publint (strict)", async () => {
    const result = await Packages.publint(packedOf(name), scratch)
    expect(result.ok, result.output).toBe(true)
  })

  it("has types that resolve for Node's ESM and bundlers (attw, ESM-only)", async () => {
    const result = await Packages.attw(packedOf(name))
    expect(result.ok, result.output).toBe(true)
  })

  it("has a README example, a whole program", () => {
    expect(examples.get(name)?.length ?? 0).toBeGreaterThan(0)
  })
})

describe("the packages installed with plain npm", () => {
  // Two copies of effect in one program break its Schema and Context checks at run time ("Result adapter can
  // only return schema issues"): every package takes effect (and the Kubernetes client) as a peer.
  it("share one copy of effect and of @kubernetes/client-node", () => {
    for (const name of ["effect", "@kubernetes/client-node"])
      expect(Consumer.copiesOf(consumer, name), name).toHaveLength(1)
  })
})

describe("the README examples in a TypeScript project of their own", () => {
  // tsup's bundled declarations dropped the value of a name that is both a value and a type in an `export * as`
  // namespace: `KubeClient.PatchStrategy` and every Schema were types only for a user's TypeScript.
  it("type-check with nodenext resolution, strict, against the packed packages, every exported value a value", async () => {
    let values = 0
    for (const p of packed) values += await Consumer.writeValueCheck(consumer, p)
    expect(values).toBeGreaterThan(300)
    expect(await Consumer.typecheck(consumer)).toBe("")
  })

  const run = async (file: string, options: Consumer.RunOptions) => {
    const result = await Consumer.runExample(consumer, file, {
      ...options,
      env: { ...bed.clients.env, ...options.env }
    })
    expect(result.ok, `${file} exited ${result.code} after ${result.ms} ms:\n${result.output}`).toBe(true)
    return result
  }

  it("@nth/events decide.ts", () => run("decide.ts", { expect: /CordonAndDrain/ }))
  it("@nth/go-template render.ts", () =>
    run("render.ts", { expect: /SPOT_ITN on ip-10-0-1-23\.ec2\.internal at 09:26 UTC/ }))
  it("@nth/queue-monitor decode-message.ts", () =>
    run("decode-message.ts", { expect: /SpotInterruptionNotice/ }))
  it("@nth/webhook default-template.ts", () =>
    run("default-template.ts", { expect: /\[NTH\]\[Instance Interruption\]/ }))
  it("@nth/imds-mock spot-notice.ts", () => run("spot-notice.ts", { expect: /200 \{"action":"terminate"/ }))

  it("@nth/imds-monitor watch-imds.ts, against the IMDS emulator with a Spot notice", async () => {
    const imds = await ImdsMock.start({ instanceId: "i-0123456789abcdef0" })
    imds.setSpotInterruption({ action: "terminate" })
    try {
      await run("watch-imds.ts", {
        env: { INSTANCE_METADATA_URL: imds.url },
        expect: /SpotInterruptionNotice/,
        untilStopped: true
      })
    } finally {
      await imds.close()
    }
  })

  it("@nth/runtime tick.ts: ticks, answers its probes (ready after the first tick), and exits 0 on SIGTERM", async () => {
    const port = await Programs.freePort()
    const probe = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status
    await run("tick.ts", {
      env: { PORT: String(port) },
      expect: /tick 1 done/,
      untilStopped: true,
      stopsWithExitCode: 0,
      whileRunning: async () => {
        expect(await probe("/healthz")).toBe(200)
        expect(await probe("/readyz")).toBe(200)
      }
    })
  })

  it("@nth/kube cordon.ts, on a test bed node", async () => {
    const { node } = await bed.nodeWithDeployment({ replicas: 2 })
    await run("cordon.ts", { args: [node.name], expect: /^2$/m })
    expect((await bed.clients.core.readNode({ name: node.name })).spec?.unschedulable).toBe(true)
  })

  it("@nth/taint-manager quickstart.ts, on a test bed node", async () => {
    const node = await bed.registerNode()
    await run("quickstart.ts", { args: [node.name], expect: /Uncordoned/ })
  })

  it("@nth/drainer drain-node.ts, on a test bed node with pods", async () => {
    const { node } = await bed.nodeWithDeployment({ replicas: 2, terminationGracePeriodSeconds: 1 })
    const result = await run("drain-node.ts", { args: [node.name], expect: /: Gone/ })
    expect(result.output.match(/: Gone/g)?.length).toBe(2)
  })

  it("@nth/handler handle-one.ts, on a test bed node with pods", async () => {
    const { node } = await bed.nodeWithDeployment({ replicas: 2, terminationGracePeriodSeconds: 1 })
    await run("handle-one.ts", { args: [node.name], expect: /Drained/ })
  })
})
