/**
 * The release's krew artifacts: dist/krew/kubectl-nth_drain-<version>.tar.gz (the script and the package.json
 * that makes Node read it as CommonJS; the same bytes for the same build: sorted, owned by root, dated 1970) and
 * dist/krew/nth-drain.yaml, the manifest with the version, the archive's URI and its SHA-256.
 *
 *   node scripts/krew-manifest.ts --uri https://example.com/releases/v{{VERSION}}/kubectl-nth_drain.tar.gz
 *     [--homepage https://…]
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"

const here = join(import.meta.dirname, "..")
const { values } = parseArgs({ options: { uri: { type: "string" }, homepage: { type: "string" } } })
if (values.uri === undefined) {
  process.stderr.write(
    "usage: krew-manifest --uri <URI of the archive, {{VERSION}} allowed> [--homepage <URL>]\n"
  )
  process.exit(2)
}
const version = (JSON.parse(readFileSync(join(here, "package.json"), "utf8")) as { version: string }).version
const out = join(here, "dist", "krew")
mkdirSync(out, { recursive: true })
const archive = join(out, `kubectl-nth_drain-${version}.tar.gz`)
const tar = execFileSync(
  "tar",
  [
    "--sort=name",
    "--mtime=@0",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "-C",
    join(here, "dist"),
    "-cf",
    "-",
    "kubectl-nth_drain",
    "package.json"
  ],
  { maxBuffer: 64 * 1024 * 1024 }
)
writeFileSync(archive, execFileSync("gzip", ["-9", "-n"], { input: tar, maxBuffer: 64 * 1024 * 1024 }))
const sha256 = createHash("sha256").update(readFileSync(archive)).digest("hex")
const manifest = readFileSync(join(here, "krew", "nth-drain.yaml"), "utf8")
  .replace(/^#.*\n/gm, "")
  .replaceAll("{{URI}}", values.uri)
  .replaceAll("{{SHA256}}", sha256)
  .replaceAll("{{HOMEPAGE}}", values.homepage ?? "https://github.com/nth/nth")
  .replaceAll("{{VERSION}}", version)
writeFileSync(join(out, "nth-drain.yaml"), manifest)
process.stdout.write(`${archive}\nsha256 ${sha256}\n${join(out, "nth-drain.yaml")}\n`)
