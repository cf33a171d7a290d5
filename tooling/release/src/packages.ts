/**
 * The publishable packages, packed as `pnpm publish` would pack them, and the checks a registry user would make
 * of a tarball: publint, and "are the types wrong" for an ESM-only package.
 */
import { execFile } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)

export const root = join(import.meta.dirname, "..", "..", "..")
const bin = (name: string) => join(import.meta.dirname, "..", "node_modules", ".bin", name)

export interface Publishable {
  /** `@nth/drainer`. */
  readonly name: string
  /** Its folder in the workspace. */
  readonly dir: string
  readonly readme: string
}

/** Every package under `packages/` that is not private: what `changeset publish` publishes. */
export const publishable = (): ReadonlyArray<Publishable> =>
  readdirSync(join(root, "packages"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(root, "packages", entry.name))
    .flatMap((dir) => {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name: string
        private?: boolean
      }
      return manifest.private ? [] : [{ name: manifest.name, dir, readme: join(dir, "README.md") }]
    })

export interface Packed extends Publishable {
  readonly tarball: string
  /** The manifest inside the tarball: `workspace:` ranges resolved, `publishConfig` applied. */
  readonly manifest: {
    readonly name: string
    readonly version: string
    readonly exports?: unknown
    readonly dependencies?: Record<string, string>
    readonly peerDependencies?: Record<string, string>
  }
  /** The files inside the tarball, relative to its `package/`. */
  readonly files: ReadonlyArray<string>
}

/** Packs a built package with `pnpm pack` into `into`. */
export const pack = async (pkg: Publishable, into: string): Promise<Packed> => {
  mkdirSync(into, { recursive: true })
  const { stdout } = await run("pnpm", ["pack", "--json", "--pack-destination", into], {
    cwd: pkg.dir,
    maxBuffer: 16 * 1024 * 1024
  })
  const report = JSON.parse(stdout.slice(stdout.indexOf("{"))) as {
    filename: string
    files: ReadonlyArray<{ path: string }>
  }
  const tarball = report.filename
  const { stdout: text } = await run("tar", ["-xzOf", tarball, "package/package.json"])
  return {
    ...pkg,
    tarball,
    manifest: JSON.parse(text) as Packed["manifest"],
    files: report.files.map((file) => file.path)
  }
}

export interface LintResult {
  readonly ok: boolean
  readonly output: string
}

const outcome = async (file: string, args: ReadonlyArray<string>, cwd?: string): Promise<LintResult> => {
  try {
    const { stdout, stderr } = await run(file, [...args], { cwd, maxBuffer: 16 * 1024 * 1024 })
    return { ok: true, output: `${stdout}${stderr}`.trim() }
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string }
    return { ok: false, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}`.trim() || failed.message }
  }
}

/**
 * publint on the tarball's contents (unpacked, not packed again), strict: a warning fails too.
 */
export const publint = async (packed: Packed, scratch: string): Promise<LintResult> => {
  const dir = join(scratch, `${packed.manifest.name.replace("/", "+")}-unpacked`)
  mkdirSync(dir, { recursive: true })
  await run("tar", ["-xzf", packed.tarball, "-C", dir])
  return outcome(bin("publint"), ["--strict", "--pack", "false", join(dir, "package")])
}

/**
 * "Are the types wrong?" on the tarball, for an ESM-only package: its types must resolve under Node's ESM
 * (`node16`/`nodenext`) and bundlers; CommonJS `require` is not offered.
 */
export const attw = (packed: Packed): Promise<LintResult> =>
  outcome(bin("attw"), [packed.tarball, "--profile", "esm-only", "--format", "ascii"])
