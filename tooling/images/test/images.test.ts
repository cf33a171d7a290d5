/**
 * The images `pnpm images` builds, checked as a user receives them: both architectures' structure (the arm64 one
 * cannot run here), then the amd64 image unpacked and its entrypoint run inside its own root filesystem (chroot,
 * read-only, as the non-root user of its config) against the test bed: `--help` in each mode, then a Spot notice
 * handled end to end in IMDS mode. Skipped, saying why, where chroot is not permitted (not root).
 */
import { execFileSync, spawn } from "node:child_process"
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ImdsMock } from "@nth/imds-mock"
import { Fixtures, useTestBed } from "@nth/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { architectures, build, type Images, which } from "../src/build.ts"

const bed = useTestBed()
const isRoot = process.getuid?.() === 0
const out = mkdtempSync(join(tmpdir(), "nth-images-"))
let images: Images

interface Config {
  architecture: string
  os: string
  config: {
    User: string
    Entrypoint: Array<string>
    Env: Array<string>
    Labels: Record<string, string>
    WorkingDir: string
  }
}

const blob = (digest: string) =>
  readFileSync(join(images.layout, "blobs", "sha256", digest.replace("sha256:", "")))
const json = <A>(digest: string) => JSON.parse(blob(digest).toString("utf8")) as A
const manifestOf = (arch: string) => {
  const index = JSON.parse(readFileSync(join(images.layout, "index.json"), "utf8")) as {
    manifests: Array<{ digest: string; mediaType: string; annotations?: Record<string, string> }>
  }
  const multi = index.manifests.find(
    (m) => m.annotations?.["org.opencontainers.image.ref.name"] === images.version
  )!
  const entry = json<{ manifests: Array<{ digest: string; platform: { architecture: string } }> }>(
    multi.digest
  ).manifests.find((m) => m.platform.architecture === arch)!
  return json<{ config: { digest: string }; layers: Array<{ digest: string; mediaType: string }> }>(
    entry.digest
  )
}

beforeAll(() => {
  if (!isRoot) return
  images = build(out, (line) => console.log(`[images] ${line}`))
})
afterAll(() => rmSync(out, { recursive: true, force: true }))

describe.skipIf(!isRoot)("nth's images (built without a Docker engine)", () => {
  it.each(architectures.map((arch) => [arch]))(
    "linux/%s: non-root, labelled, the entrypoint and Node of its architecture",
    (arch) => {
      const manifest = manifestOf(arch)
      const config = json<Config>(manifest.config.digest)
      expect(config.architecture).toBe(arch)
      expect(config.os).toBe("linux")
      expect(config.config.User).toBe("65532:65532")
      expect(config.config.Entrypoint).toEqual(["/nodejs/bin/node", "/app/main.js"])
      expect(config.config.Labels["org.opencontainers.image.version"]).toBe(images.version)
      expect(config.config.Labels["org.opencontainers.image.source"]).toMatch(/^https:\/\//)
      expect(manifest.layers).toHaveLength(1)
      // The layer: Node for this architecture (its ELF machine), the programs, and no shell.
      const dir = join(out, `layer-${arch}`)
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, "layer.tar.gz"), blob(manifest.layers[0]!.digest))
      const listing = spawnSyncText("tar", ["-tzf", join(dir, "layer.tar.gz")])
      for (const file of [
        "nodejs/bin/node",
        "app/main.js",
        "app/imds/nth.js",
        "app/queue/nth.js",
        "etc/passwd"
      ])
        expect(listing, file).toMatch(new RegExp(`(^|\\n)(\\./)?${file}\\n`))
      expect(listing).not.toMatch(/(^|\n)(\.\/)?(usr\/)?bin\/(sh|bash|dash)\n/)
      // amd64's code caches are written by its own Node; arm64 cannot run here and starts without one.
      expect(/app\/imds\/nth\.code-cache\n/.test(listing)).toBe(arch === "amd64")
      spawnSyncText("tar", [
        "-xzf",
        join(dir, "layer.tar.gz"),
        "-C",
        dir,
        listing.includes("./nodejs/") ? "./nodejs/bin/node" : "nodejs/bin/node"
      ])
      const header = Buffer.alloc(20)
      readSync(openSync(join(dir, "nodejs/bin/node"), "r"), header, 0, 20, 0)
      expect(header.readUInt16LE(18)).toBe(arch === "amd64" ? 0x3e : 0xb7)
      const size = images.built.find((b) => b.arch === arch)!.compressedBytes
      console.log(`linux/${arch}: ${(size / 1024 / 1024).toFixed(1)} MiB compressed`)
      expect(existsSync(images.built.find((b) => b.arch === arch)!.archive)).toBe(true)
    }
  )

  describe("the amd64 image, run inside its own root filesystem", () => {
    let rootfs: string
    beforeAll(() => {
      const bundle = join(out, "bundle-amd64")
      spawnSyncText(which("umoci"), ["unpack", "--image", `${images.layout}:${images.version}-amd64`, bundle])
      rootfs = join(bundle, "rootfs")
      // What a pod would mount: the kubeconfig stands in for the service account's token.
      mkdirSync(join(rootfs, "etc/nth"), { recursive: true })
      cpSync(bed.clients.env.KUBECONFIG, join(rootfs, "etc/nth/kubeconfig"))
      chmodSync(join(rootfs, "etc/nth/kubeconfig"), 0o644)
    })

    it("runs the Node it was built with", () => {
      const version = execFileSync(which("chroot"), [rootfs, "/nodejs/bin/node", "--version"], { env: {} })
      expect(version.toString("utf8").trim()).toBe(`v${process.versions.node}`)
    })

    it("answers --help in each mode, read-only, as its user", async () => {
      const imds = await inImage(rootfs, ["--help"], {})
      expect(imds.code, imds.output).toBe(0)
      expect(imds.output).toContain("INSTANCE_METADATA_URL")
      const queue = await inImage(rootfs, ["--help"], { ENABLE_SQS_TERMINATION_DRAINING: "true" })
      expect(queue.code, queue.output).toBe(0)
      expect(queue.output).toContain("QUEUE_URL")
    })

    it("handles a Spot notice end to end in IMDS mode", async () => {
      const { node } = await bed.nodeWithDeployment({ replicas: 2, terminationGracePeriodSeconds: 1 })
      const imds = await ImdsMock.start({ instanceId: node.instanceId, availabilityZone: node.zone })
      try {
        const app = startInImage(rootfs, [], {
          KUBECONFIG: "/etc/nth/kubeconfig",
          NODE_NAME: node.name,
          INSTANCE_METADATA_URL: imds.url,
          JSON_LOGGING: "true"
        })
        await Fixtures.waitFor("nth started", async () =>
          app.output().includes("nth started") ? true : undefined
        )
        imds.setSpotInterruption({ action: "terminate" })
        await Fixtures.waitFor(
          `node ${node.name} drained`,
          async () => ((await Fixtures.livePodsOn(bed.clients, node.name)).length === 0 ? true : undefined),
          { timeoutMs: 40_000 }
        )
        expect((await bed.clients.core.readNode({ name: node.name })).spec?.unschedulable).toBe(true)
        expect(await app.stop()).toBe(0)
        expect(app.output()).not.toContain("code cache rejected")
      } finally {
        await imds.close()
      }
    }, 120_000)
  })
})

describe.skipIf(isRoot)("nth's images", () => {
  it.skip("need root for chroot (the image is unpacked and run in its own root filesystem): run as root", () => {})
})

function spawnSyncText(file: string, args: ReadonlyArray<string>): string {
  return execFileSync(file, [...args], { maxBuffer: 256 * 1024 * 1024 }).toString("utf8")
}

/**
 * The image's entrypoint as a runtime starts it: its own mount namespace, /proc and /dev mounted, the root
 * filesystem read-only, the config's user, an environment of the config's variables and the given ones.
 */
const startInImage = (rootfs: string, args: ReadonlyArray<string>, env: Record<string, string>) => {
  const script =
    'set -e; R="$1"; shift; mount --bind "$R" "$R"; mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"; ' +
    'mount -o remount,bind,ro "$R"; exec chroot --userspec=65532:65532 "$R" "$@"'
  const child = spawn(
    which("unshare"),
    [
      "--mount",
      "--fork",
      which("sh"),
      "-c",
      script,
      "sh",
      rootfs,
      "/nodejs/bin/node",
      "/app/main.js",
      ...args
    ],
    { env: { PATH: process.env.PATH ?? "", NODE_ENV: "production", HOME: "/home/nonroot", ...env } }
  )
  let output = ""
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8")
  })
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8")
  })
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return {
    output: () => output,
    exited,
    // SIGTERM to the program itself (unshare's child), as a kubelet stops a container; unshare exits with its code.
    stop: async () => {
      execFileSync(which("pkill"), ["-TERM", "-P", String(child.pid)])
      return exited
    }
  }
}

const inImage = async (rootfs: string, args: ReadonlyArray<string>, env: Record<string, string>) => {
  const app = startInImage(rootfs, args, env)
  const code = await app.exited
  return { code, output: app.output() }
}
