/**
 * An existing release of the Go handler's chart upgrades in place to nth's chart, on the test bed: the objects the
 * Go chart renders (test/fixtures/go-chart-*.yaml, rendered with the EKS workshop guide's
 * `--set nodeSelector.type=self-managed-spot`) are installed as a real Helm release, its DaemonSet Ready on two fake
 * nodes labelled for it; then `helm upgrade` to nth's chart keeps every object (same UIDs: nothing deleted and
 * re-created), keeps the DaemonSet's selector (immutable), rolls the pods to nth's image on those two nodes only
 * and leaves none of the Go chart's fields behind; `helm uninstall` then leaves nothing.
 *
 * Each version is installed twice: with client-side apply, as Helm 3 installed it (Helm 4 upgrades such a
 * release the same way), and with server-side apply, Helm 4's default for a new release.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ChartTools, Fixtures } from "@nth/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { chart, env, jsonObjects, run, succeed } from "./harness.ts"

const clients = Fixtures.makeClients(env)
const work = mkdtempSync(join(tmpdir(), "nth-chart-upgrade-"))
const release = "aws-node-termination-handler"
const namespace = "kube-system"
let tools: ChartTools.ChartTools | undefined

const helm = (args: ReadonlyArray<string>) => {
  if (tools === undefined) throw new Error("helm is there from beforeAll on")
  return run(tools.helm, ["--kubeconfig", env.KUBECONFIG, ...args])
}
const kubectl = (args: ReadonlyArray<string>, input?: string) =>
  succeed(env.NTH_TESTBED_KUBECTL, ["--kubeconfig", env.KUBECONFIG, ...args], input)

// An object, as far as these tests look into one.
interface PodTemplate {
  readonly metadata: { readonly labels: Record<string, string> }
  readonly spec: {
    readonly containers: ReadonlyArray<{
      readonly image: string
      readonly env: ReadonlyArray<{ readonly name: string }>
    }>
  }
}
interface KubeObject {
  readonly kind: string
  readonly metadata: {
    readonly name: string
    readonly uid?: string
    readonly generation?: number
    readonly deletionTimestamp?: string
  }
  readonly spec?: {
    readonly selector?: { readonly matchLabels: Record<string, string> }
    readonly template?: PodTemplate
    readonly nodeName?: string
    readonly containers?: ReadonlyArray<{ readonly image: string }>
  }
  readonly status?: {
    readonly conditions?: ReadonlyArray<{ readonly type: string; readonly status: string }>
    readonly [field: string]: unknown
  }
  readonly [field: string]: unknown
}

/** An object's kind and name (namespaced ones are all in kube-system). */
const keyOf = (o: KubeObject) => `${o.kind}/${o.metadata.name}`

/** The manifest of the release's current revision, as Helm stored it. */
const manifestOf = async () => {
  const outcome = await helm(["get", "manifest", release, "--namespace", namespace])
  expect(outcome.stderr).toBe("")
  return outcome.stdout
}

/** The manifest's objects, read by kubectl (client-side: nothing is sent). */
const objectsOf = async (manifest: string) =>
  jsonObjects<KubeObject>(await kubectl(["create", "--dry-run=client", "-o", "json", "-f", "-"], manifest))

/** The live objects of a manifest, those that exist. */
const liveOf = async (manifest: string) =>
  jsonObjects<KubeObject>(await kubectl(["get", "--ignore-not-found", "-o", "json", "-f", "-"], manifest))

/**
 * What an object says, as the API server stores it (defaults filled in): its labels and every field besides its
 * metadata and status. `fresh` is the object created anew, in a server-side dry run under another name.
 */
const contentOf = (object: KubeObject) => {
  const { metadata, status: _status, ...fields } = object
  return { labels: (metadata as { labels?: unknown }).labels, ...fields }
}
const fresh = async (object: KubeObject) => {
  const renamed = { ...object, metadata: { ...object.metadata, name: `${object.metadata.name}-dry-run` } }
  const created = jsonObjects<KubeObject>(
    await kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], JSON.stringify(renamed))
  )
  expect(created).toHaveLength(1)
  return created[0] as KubeObject
}

const uidsOf = (objects: ReadonlyArray<KubeObject>) =>
  Object.fromEntries(objects.map((o) => [keyOf(o), o.metadata.uid]))

const daemonSetIn = (objects: ReadonlyArray<KubeObject>) => {
  const found = objects.filter((o) => o.kind === "DaemonSet")
  expect(found).toHaveLength(1)
  return found[0] as KubeObject
}

const liveDaemonSet = async () =>
  jsonObjects<KubeObject>(
    await kubectl(["get", "daemonset", release, "--namespace", namespace, "-o", "json"])
  )[0]

/** All the pods of the release's DaemonSet (terminating ones too). */
const podsOf = async (selector: Record<string, string>) =>
  jsonObjects<KubeObject>(
    await kubectl([
      "get",
      "pods",
      "--namespace",
      namespace,
      "--selector",
      Object.entries(selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
      "-o",
      "json"
    ])
  )

const isReady = (pod: KubeObject) =>
  pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true

/**
 * Waits until the DaemonSet has rolled out its current generation: `desired` pods scheduled, updated, Ready and
 * available, and no other pod of it left (none terminating either). Returns its pods.
 */
const rolledOut = (selector: Record<string, string>, desired: number) =>
  Fixtures.waitFor(
    `the DaemonSet rolled out to ${desired} Ready pods`,
    async () => {
      const daemonSet = await liveDaemonSet()
      const status = daemonSet?.status ?? {}
      if (
        status.observedGeneration !== daemonSet?.metadata.generation ||
        status.desiredNumberScheduled !== desired ||
        status.currentNumberScheduled !== desired ||
        status.updatedNumberScheduled !== desired ||
        status.numberReady !== desired ||
        status.numberAvailable !== desired ||
        (status.numberMisscheduled ?? 0) !== 0
      )
        return undefined
      const pods = await podsOf(selector)
      return pods.length === desired && pods.every((p) => !p.metadata.deletionTimestamp && isReady(p))
        ? pods
        : undefined
    },
    { timeoutMs: 90_000, intervalMs: 250 }
  )

/**
 * KWOK finishes a terminating pod when its grace period ends (30 s for both charts' pods, which set none); the
 * handler exits as soon as it gets SIGTERM, so the pods are marked to be finished 1 s after their deletion starts
 * (the test bed's `testbed.nth.dev/terminate-after`), as a kubelet would once the container has exited.
 */
const exitPromptly = async (pods: ReadonlyArray<KubeObject>) => {
  if (pods.length === 0) return
  await kubectl([
    "annotate",
    "pods",
    "--namespace",
    namespace,
    "--overwrite",
    ...pods.map((p) => p.metadata.name),
    "testbed.nth.dev/terminate-after=1s"
  ])
}

const nthChartVersion = /^version:\s*(\S+)\s*$/m.exec(readFileSync(join(chart, "Chart.yaml"), "utf8"))?.[1]

const cases = [
  { version: "0.21.0", appVersion: "1.19.0", apply: "client-side" },
  { version: "0.21.0", appVersion: "1.19.0", apply: "server-side" },
  { version: "0.27.6", appVersion: "1.25.6", apply: "client-side" },
  { version: "0.27.6", appVersion: "1.25.6", apply: "server-side" }
] as const

afterAll(() => rmSync(work, { recursive: true, force: true }))

describe.each(cases)(
  "a release of the Go handler's chart $version, installed with $apply apply",
  ({ version, appVersion, apply }) => {
    const labelled: Array<Fixtures.FakeNode> = []
    const nodes: Array<Fixtures.FakeNode> = []
    /** Whether this test made the release (so that only then it is uninstalled when a test fails). */
    let installed = false
    let goManifest = ""
    let goObjects: Array<KubeObject> = []
    let goLive: Array<KubeObject> = []
    let goPods: Array<KubeObject> = []
    let nthManifest = ""

    beforeAll(async () => {
      tools ??= await ChartTools.ensureChartTools((line) => console.log(line))
      // Another run of the chart's tests owns a release of this name: leave it alone.
      const existing = await helm(["status", release, "--namespace", namespace])
      if (existing.code === 0)
        throw new Error(`a release ${release} already exists in ${namespace}: not touching it`)
      for (const labels of [{ type: "self-managed-spot" }, { type: "self-managed-spot" }, {}]) {
        const node = await Fixtures.registerNode(clients, { labels })
        nodes.push(node)
        if (labels.type !== undefined) labelled.push(node)
      }
    }, 900_000)

    afterAll(async () => {
      try {
        if (installed)
          await helm(["uninstall", release, "--namespace", namespace, "--wait", "--timeout", "90s"])
      } finally {
        // Any pod left on them is deleted by the pod garbage collector once they are gone.
        for (const node of nodes) await Fixtures.deleteNode(clients, node.name)
      }
    }, 120_000)

    it("installs as a release: its ServiceAccount, ClusterRole, binding and DaemonSet, Ready on the 2 labelled nodes only", async () => {
      const fixture = readFileSync(join(import.meta.dirname, "fixtures", `go-chart-${version}.yaml`), "utf8")
      // A throwaway chart whose only template is the fixture (nothing in it is a template action).
      const goChart = join(work, `go-chart-${version}-${apply}`)
      mkdirSync(join(goChart, "templates"), { recursive: true })
      writeFileSync(
        join(goChart, "Chart.yaml"),
        `apiVersion: v2\nname: aws-node-termination-handler\nversion: ${version}\nappVersion: "${appVersion}"\n`
      )
      writeFileSync(join(goChart, "templates", "go-chart.yaml"), fixture.replaceAll("{{", '{{ "{{" }}'))

      installed = true
      const outcome = await helm([
        "install",
        release,
        goChart,
        "--namespace",
        namespace,
        `--server-side=${apply === "server-side"}`,
        "--wait",
        "--timeout",
        "90s"
      ])
      expect(outcome.code, outcome.stderr).toBe(0)
      // Not even a warning from the API server.
      expect(outcome.stderr).toBe("")

      goManifest = await manifestOf()
      goObjects = await objectsOf(goManifest)
      expect(goObjects.map(keyOf).sort()).toEqual([
        "ClusterRole/aws-node-termination-handler",
        "ClusterRoleBinding/aws-node-termination-handler",
        "DaemonSet/aws-node-termination-handler",
        "ServiceAccount/aws-node-termination-handler"
      ])
      goLive = await liveOf(goManifest)
      expect(goLive.map(keyOf).sort()).toEqual(goObjects.map(keyOf).sort())

      const selector = daemonSetIn(goObjects).spec?.selector?.matchLabels ?? {}
      goPods = await rolledOut(selector, 2)
      expect(goPods.map((p) => p.spec?.nodeName).sort()).toEqual(labelled.map((n) => n.name).sort())
      expect(goPods.map((p) => p.spec?.containers?.[0]?.image)).toEqual([
        `public.ecr.aws/aws-ec2/aws-node-termination-handler:v${appVersion}`,
        `public.ecr.aws/aws-ec2/aws-node-termination-handler:v${appVersion}`
      ])
      await exitPromptly(goPods)
    }, 120_000)

    it("upgrades in place to nth's chart: same objects (UIDs), same selector, nth's pods on the 2 labelled nodes", async () => {
      expect(goLive, "the Go release is installed").toHaveLength(4)
      const outcome = await helm([
        "upgrade",
        release,
        chart,
        "--namespace",
        namespace,
        "--set",
        "nodeSelector.type=self-managed-spot"
      ])
      expect(outcome.code, outcome.stderr).toBe(0)
      // Not even a warning from the API server.
      expect(outcome.stderr).toBe("")

      const [listed] = JSON.parse(
        (await helm(["list", "--namespace", namespace, "--filter", `^${release}$`, "-o", "json"])).stdout
      ) as Array<{ revision: string; status: string; chart: string }>
      expect(listed).toMatchObject({
        revision: "2",
        status: "deployed",
        chart: `aws-node-termination-handler-${nthChartVersion}`
      })

      nthManifest = await manifestOf()
      const nthObjects = await objectsOf(nthManifest)
      const goKeys = goObjects.map(keyOf)
      const nthKeys = nthObjects.map(keyOf)
      // What nth's chart no longer renders is deleted by Helm: nothing (on Kubernetes >= 1.25 the Go chart renders
      // no PodSecurityPolicy), and it renders nothing new.
      const dropped = goKeys.filter((k) => !nthKeys.includes(k))
      expect(dropped, "deleted by the upgrade").toEqual([])
      expect(
        nthKeys.filter((k) => !goKeys.includes(k)),
        "created by the upgrade"
      ).toEqual([])
      expect(
        await liveOf(goManifest).then((live) => live.map(keyOf).filter((k) => dropped.includes(k)))
      ).toEqual([])

      // Nothing deleted and re-created.
      const before = uidsOf(goLive)
      const after = await liveOf(nthManifest)
      expect(uidsOf(after)).toEqual(Object.fromEntries(nthKeys.map((k) => [k, before[k]])))
      for (const uid of Object.values(before)) expect(uid).toMatch(/^[0-9a-f-]{36}$/)

      // The DaemonSet: same selector, a new generation rolled out to nth's image on the labelled nodes only.
      const goDaemonSet = daemonSetIn(goLive)
      const daemonSet = daemonSetIn(after)
      expect(daemonSet.spec?.selector).toEqual(goDaemonSet.spec?.selector)
      expect(daemonSet.metadata.generation).toBeGreaterThan(goDaemonSet.metadata.generation ?? 0)
      const rendered = daemonSetIn(nthObjects)
      const image = rendered.spec?.template?.spec.containers[0]?.image
      expect(image).toMatch(/^ghcr\.io\/nth\/aws-node-termination-handler:/)

      const pods = await rolledOut(goDaemonSet.spec?.selector?.matchLabels ?? {}, 2)
      expect(pods.map((p) => p.spec?.nodeName).sort()).toEqual(labelled.map((n) => n.name).sort())
      expect(pods.map((p) => p.spec?.containers?.[0]?.image)).toEqual([image, image])
      const goPodUids = goPods.map((p) => p.metadata.uid)
      expect(pods.filter((p) => goPodUids.includes(p.metadata.uid))).toEqual([])
      await exitPromptly(pods)

      // Nothing of the Go chart is left in the objects: each is what nth's chart makes when installed afresh.
      const live = await liveOf(nthManifest)
      expect(live.map(keyOf).sort()).toEqual([...nthKeys].sort())
      for (const object of live) {
        const ours = nthObjects.find((o) => keyOf(o) === keyOf(object)) as KubeObject
        expect(contentOf(object), keyOf(object)).toEqual(contentOf(await fresh(ours)))
      }
    }, 180_000)

    it("uninstalls, leaving nothing of the release: no DaemonSet, ServiceAccount, ClusterRole, binding or pod", async () => {
      expect(nthManifest, "the release was upgraded").not.toBe("")
      const outcome = await helm([
        "uninstall",
        release,
        "--namespace",
        namespace,
        "--wait",
        "--timeout",
        "90s"
      ])
      expect(outcome.code, outcome.stderr).toBe(0)
      installed = false
      expect(await liveOf(nthManifest)).toEqual([])
      expect(await liveOf(goManifest)).toEqual([])
      const selector = daemonSetIn(goObjects).spec?.selector?.matchLabels ?? {}
      await Fixtures.waitFor(
        "the release's pods gone",
        async () => ((await podsOf(selector)).length === 0 ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 250 }
      )
      const status = await helm(["status", release, "--namespace", namespace])
      expect(status.code).not.toBe(0)
      expect(status.stderr).toContain("not found")
    }, 120_000)
  }
)
