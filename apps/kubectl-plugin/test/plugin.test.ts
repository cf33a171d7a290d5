/**
 * The built plugin (dist/kubectl-nth_drain) beside the test bed's real `kubectl drain`, on identical nodes: for
 * every combination of --ignore-daemonsets, --delete-emptydir-data and --force, the same pods evicted, the same
 * refusals word for word, the same exit code. Then its own parts: the selector, dry runs, the report, bad flags.
 */
import { execFileSync, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Fixtures, useTestBed } from "@nth/testbed"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"

const bed = useTestBed()
const plugin = join(import.meta.dirname, "..", "dist", "kubectl-nth_drain")

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (file: string, args: ReadonlyArray<string>): Promise<Ran> =>
  new Promise((resolve) => {
    const child = spawn(file, [...args], { env: { ...process.env, KUBECONFIG: bed.clients.env.KUBECONFIG } })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

const kubectlPath = process.env.NTH_TESTBED_KUBECTL ?? "kubectl"
const kubectl = (args: ReadonlyArray<string>) => run(kubectlPath, ["drain", ...args])
const nthDrain = (args: ReadonlyArray<string>) => run(plugin, args)

/**
 * A node with one pod of each kind kubectl's rules tell apart, in a namespace of its own: `web` (a Deployment's),
 * `cache` (a Deployment's, with emptyDir), `bare` (no controller), `bare-ed` (no controller, emptyDir) and `ds` (a
 * DaemonSet's).
 */
const fixtureNode = async () => {
  const node = await bed.registerNode()
  const namespace = await Fixtures.createNamespace(bed.clients, "plugin")
  bed.defer(() => Fixtures.deleteNamespace(bed.clients, namespace))
  const pods = { onlyNodes: [node.name], terminationGracePeriodSeconds: 1 }
  await Promise.all([
    Fixtures.createDeployment(bed.clients, namespace, { name: "web", replicas: 1, ...pods }),
    Fixtures.createDeployment(bed.clients, namespace, {
      name: "cache",
      replicas: 1,
      emptyDir: true,
      ...pods
    }),
    Fixtures.createBarePod(bed.clients, namespace, { name: "bare", nodeName: node.name, ...pods }),
    Fixtures.createBarePod(bed.clients, namespace, {
      name: "bare-ed",
      nodeName: node.name,
      emptyDir: true,
      ...pods
    }),
    Fixtures.createDaemonSet(bed.clients, namespace, { name: "ds", ...pods })
  ])
  await Fixtures.waitFor("five running pods", async () => {
    const live = await Fixtures.livePodsOn(bed.clients, node.name)
    return live.length === 5 && live.every((p) => p.status?.phase === "Running") ? true : undefined
  })
  return { node: node.name, namespace }
}

/** The fixture's own pods still on its node (other tests' replacements may land on any schedulable node). */
const podsOf = async (fixture: { node: string; namespace: string }) =>
  (await Fixtures.livePodsOn(bed.clients, fixture.node)).filter(
    (p) => p.metadata?.namespace === fixture.namespace
  )

/** A pod's kind from its name (`web-5d8c…-x2x` → web), so that two nodes' outputs compare. */
const role = (pod: string) => /^(web|cache|ds)-/.exec(pod)?.[1] ?? pod

/** The output with node names, namespaces and generated pod names replaced by what they stand for. */
const normalised = (text: string, fixture: { node: string; namespace: string }) =>
  text
    .replaceAll(fixture.node, "NODE")
    .replace(new RegExp(`${fixture.namespace}/([\\w.-]+)`, "g"), (_, pod: string) => `NS/${role(pod)}`)
    .replace(/pod\/([\w.-]+) evicted/g, (_, pod: string) => `pod/${role(pod)} evicted`)

const evicted = (out: string) =>
  [...out.matchAll(/^pod\/([\w.-]+) evicted$/gm)].map((m) => role(m[1]!)).sort()

/**
 * kubectl's refusals, the lines after "There are pending nodes to be drained:" and the node's name. Sorted: kubectl
 * groups them in a Go map, so their order changes from run to run.
 */
const refusals = (stderr: string) => {
  const lines = stderr.split("\n")
  const start = lines.indexOf("There are pending nodes to be drained:")
  return start === -1
    ? []
    : lines
        .slice(start + 2)
        .filter((line) => line !== "")
        .sort()
}

const combinations = [false, true].flatMap((ignoreDaemonSets) =>
  [false, true].flatMap((deleteEmptyDirData) =>
    [false, true].map((force) => ({ ignoreDaemonSets, deleteEmptyDirData, force }))
  )
)

describe("kubectl nth-drain beside kubectl drain, on identical nodes", () => {
  it.concurrent.each(combinations.map((c) => [JSON.stringify(c), c] as const))(
    "%s: the same pods evicted, the same refusals, the same exit code",
    async (_, combination) => {
      let [theirs, ours] = await Promise.all([fixtureNode(), fixtureNode()])
      const flags = [
        ...(combination.ignoreDaemonSets ? ["--ignore-daemonsets"] : []),
        ...(combination.deleteEmptyDirData ? ["--delete-emptydir-data"] : []),
        ...(combination.force ? ["--force"] : [])
      ]
      const [first, n] = await Promise.all([
        kubectl([theirs.node, ...flags]),
        nthDrain([ours.node, ...flags])
      ])
      // kubectl failed without its refusals (an API call of its own failed under the load of a full CI run, once):
      // it is asked again, on a fresh node, and what it said is shown.
      let k = first
      if (first.code !== 0 && !first.stderr.includes("There are pending nodes to be drained:")) {
        console.log(`kubectl drain failed otherwise, asked again:\n${first.stderr}`)
        theirs = await fixtureNode()
        k = await kubectl([theirs.node, ...flags])
      }
      expect(n.code, n.stderr).toBe(k.code)
      expect(evicted(n.stdout)).toEqual(evicted(k.stdout))
      expect(refusals(normalised(n.stderr, ours))).toEqual(refusals(normalised(k.stderr, theirs)))
      // The summary line too, word for word but for the order of its groups (a Go map's, in kubectl).
      const summary = (ran: Ran, fixture: typeof ours) => {
        const line = normalised(ran.stderr, fixture)
          .split("\n")
          .find((l) => l.startsWith("error: unable to drain node"))
        return line === undefined
          ? undefined
          : [...line.matchAll(/cannot delete [^:]+: (?:NS\/[\w.-]+(?:, )?)+/g)]
              .map((m) => m[0].replace(/, $/, ""))
              .sort()
      }
      expect(summary(n, ours)).toEqual(summary(k, theirs))
      expect(normalised(n.stdout, ours).split("\n")[0]).toEqual(normalised(k.stdout, theirs).split("\n")[0])
      // What is left on each node matches too.
      const left = async (fixture: typeof ours) =>
        (await podsOf(fixture)).map((p) => role(p.metadata?.name ?? "")).sort()
      expect(await left(ours)).toEqual(await left(theirs))
    },
    120_000
  )
})

describe("kubectl nth-drain", () => {
  it("drains the nodes a selector picks, and prints the per-pod report as JSON", async () => {
    const label = `nth.dev/plugin-${Math.random().toString(16).slice(2, 8)}`
    const [a, b] = await Promise.all([fixtureNode(), fixtureNode()])
    for (const fixture of [a, b])
      expect((await run(kubectlPath, ["label", "node", fixture.node, `${label}=yes`])).code).toBe(0)
    const ran = await nthDrain([
      "-l",
      `${label}=yes`,
      "--ignore-daemonsets",
      "--delete-emptydir-data",
      "--force",
      "-o",
      "json"
    ])
    expect(ran.code, ran.stderr).toBe(0)
    const reports = JSON.parse(ran.stdout) as Array<{
      node: string
      pods: Array<{ name: string; outcome: string }>
    }>
    expect(reports.map((r) => r.node).sort()).toEqual([a.node, b.node].sort())
    for (const report of reports)
      expect(report.pods.map((p) => `${role(p.name)} ${p.outcome}`).sort()).toEqual([
        "bare Gone",
        "bare-ed Gone",
        "cache Gone",
        "ds Skipped",
        "web Gone"
      ])
    // The human lines went to stderr, so that stdout is JSON alone.
    expect(ran.stderr).toContain(`node/${a.node === reports[0]?.node ? a.node : b.node} drained`)
  }, 120_000)

  it("with --dry-run=server, sends everything with dryRun and changes nothing, as kubectl", async () => {
    const [theirs, ours] = await Promise.all([fixtureNode(), fixtureNode()])
    const flags = ["--ignore-daemonsets", "--delete-emptydir-data", "--force", "--dry-run=server"]
    const [k, n] = await Promise.all([kubectl([theirs.node, ...flags]), nthDrain([ours.node, ...flags])])
    expect(n.code).toBe(0)
    expect(
      normalised(n.stdout, ours)
        .split("\n")
        .filter((l) => l.startsWith("node/"))
    ).toEqual(
      normalised(k.stdout, theirs)
        .split("\n")
        .filter((l) => l.startsWith("node/"))
    )
    expect((await podsOf(ours)).length).toBe(5)
    expect((await bed.clients.core.readNode({ name: ours.node })).spec?.unschedulable).toBeFalsy()
  }, 120_000)

  it("prints a table of every pod with -o table", async () => {
    const fixture = await fixtureNode()
    const ran = await nthDrain([
      fixture.node,
      "--ignore-daemonsets",
      "--delete-emptydir-data",
      "--force",
      "-o",
      "table"
    ])
    expect(ran.code, ran.stderr).toBe(0)
    const table = ran.stdout
      .split("\n")
      .filter((line) => line.startsWith("NODE") || line.startsWith(fixture.node))
    expect(table[0]).toMatch(
      /^NODE\s+NAMESPACE\s+POD\s+OUTCOME\s+METHOD\s+ATTEMPTS\s+GRACE\s+GONE AFTER\s+DETAIL$/
    )
    expect(table).toHaveLength(6)
  }, 120_000)

  it("refuses what kubectl refuses, with kubectl's messages and exit code", async () => {
    for (const args of [
      [],
      ["a", "-l", "x=y"],
      ["a", "--frob"],
      ["a", "--timeout=abc"],
      ["a", "--force=maybe"],
      ["a", "--dry-run=bogus"],
      ["no-such-node"]
    ]) {
      const [k, n] = await Promise.all([kubectl(args), nthDrain(args)])
      expect(n.code, args.join(" ")).toBe(k.code)
      expect(n.stderr.split("\n")[0], args.join(" ")).toBe(k.stderr.split("\n")[0])
    }
    const help = await nthDrain(["-h"])
    expect(help.code).toBe(0)
    for (const flag of [
      "--ignore-daemonsets",
      "--delete-emptydir-data",
      "--force",
      "--grace-period",
      "--timeout",
      "--pod-selector",
      "--disable-eviction",
      "--skip-wait-for-delete-timeout",
      "--chunk-size",
      "--dry-run",
      "--selector",
      "--kubeconfig",
      "--context",
      "--deadline",
      "--output"
    ])
      expect(help.stdout).toContain(flag)
  }, 60_000)
})

describe("the krew artifacts", () => {
  it("an archive and a filled manifest whose checksum is the archive's; kubectl finds the plugin it unpacks to", async () => {
    const out = execFileSync(
      process.execPath,
      [
        join(import.meta.dirname, "..", "scripts", "krew-manifest.ts"),
        "--uri",
        "https://example.com/v{{VERSION}}/nth-drain.tar.gz"
      ],
      { encoding: "utf8" }
    )
    const [archive = "", , manifestPath = ""] = out.trim().split("\n")
    const manifest = parse(readFileSync(manifestPath, "utf8")) as {
      kind: string
      metadata: { name: string }
      spec: { version: string; platforms: Array<{ uri: string; sha256: string; bin: string }> }
    }
    expect(manifest.kind).toBe("Plugin")
    expect(manifest.metadata.name).toBe("nth-drain")
    expect(manifest.spec.version).toMatch(/^v\d+\.\d+\.\d+/)
    const platform = manifest.spec.platforms[0]!
    expect(platform.uri).toBe(`https://example.com/${manifest.spec.version}/nth-drain.tar.gz`)
    expect(platform.sha256).toBe(createHash("sha256").update(readFileSync(archive)).digest("hex"))
    expect(readFileSync(manifestPath, "utf8")).not.toContain("{{")
    // Unpacked where krew would put it, on the PATH: kubectl runs it as `kubectl nth-drain`.
    const dir = mkdtempSync(join(tmpdir(), "nth-krew-"))
    execFileSync("tar", ["-xzf", archive, "-C", dir])
    const viaKubectl = await new Promise<Ran>((resolve) => {
      const child = spawn(kubectlPath, ["nth-drain", "--help"], {
        env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }
      })
      let stdout = ""
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8")
      })
      child.on("exit", (code) => resolve({ code, stdout, stderr: "" }))
    })
    expect(viaKubectl.code).toBe(0)
    expect(viaKubectl.stdout).toContain("kubectl nth-drain NODE [options]")
  })
})

describe("kubectl nth-drain's own behaviour", () => {
  it("shows the wait on a disruption budget once, and drains before a --deadline", async () => {
    // Both pods on the node (the spare cordoned meanwhile), their replacements only on the spare.
    const node = await bed.registerNode()
    const spare = await bed.registerNode({ unschedulable: true })
    const namespace = bed.namespace()
    const labels = await Fixtures.createDeployment(bed.clients, namespace, {
      name: Fixtures.uniqueName("budget"),
      replicas: 2,
      onlyNodes: [node.name, spare.name],
      budget: { maxUnavailable: 1 },
      terminationGracePeriodSeconds: 1
    })
    await Fixtures.waitForReadyPods(bed.clients, namespace, labels, 2)
    // The budget's status counted both pods: one eviction allowed, the second refused until a replacement is Ready.
    await Fixtures.waitForBudget(
      bed.clients,
      namespace,
      labels.app!,
      (status) => status.disruptionsAllowed === 1
    )
    // The spare opens 3 s into the drain: until then the first pod's replacement cannot run, so the second
    // eviction is refused for certain (a replacement Ready at once could otherwise beat it), then allowed.
    const opening = new Promise((resolve) => setTimeout(resolve, 3000)).then(() =>
      Fixtures.setUnschedulable(bed.clients, spare.name, false)
    )
    const ran = await nthDrain([node.name, "--deadline=2m", "-o", "table"])
    await opening
    expect(ran.code, ran.stderr).toBe(0)
    const waits = ran.stderr.split("\n").filter((line) => line.startsWith("waiting for"))
    expect(waits, ran.stderr).toHaveLength(1)
    expect(ran.stdout.match(/^pod\/\S+ evicted$/gm)).toHaveLength(2)
    expect((await Fixtures.livePodsOn(bed.clients, node.name)).length).toBe(0)
  }, 120_000)

  it("with --dry-run=client, reads the node and changes nothing; a node already cordoned says so", async () => {
    const fixture = await fixtureNode()
    const flags = ["--ignore-daemonsets", "--delete-emptydir-data", "--force", "--dry-run=client"]
    const ran = await nthDrain([fixture.node, ...flags])
    expect(ran.code, ran.stderr).toBe(0)
    expect(ran.stdout.split("\n")[0]).toBe(`node/${fixture.node} cordoned (dry run)`)
    expect(ran.stdout).toContain(`node/${fixture.node} drained (dry run)`)
    expect((await podsOf(fixture)).length).toBe(5)
    expect((await bed.clients.core.readNode({ name: fixture.node })).spec?.unschedulable).toBeFalsy()
    const [k, n] = await Promise.all([
      kubectl(["no-such-node", "--dry-run=client"]),
      nthDrain(["no-such-node", "--dry-run=client"])
    ])
    expect(n.code).toBe(k.code)
    expect(n.stderr.trim()).toBe(k.stderr.trim())
  }, 120_000)

  it("refuses a --deadline without a unit or already past", async () => {
    for (const deadline of ["5", "-5m", "2020-01-01T00:00:00Z"]) {
      const ran = await nthDrain(["a-node", `--deadline=${deadline}`])
      expect(ran.code, deadline).toBe(1)
      expect(ran.stderr, deadline).toContain(`invalid argument "${deadline}" for "--deadline" flag`)
    }
  })
})
