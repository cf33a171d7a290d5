/**
 * `pnpm chart:package`: the chart as a user installs it, `helm package`d (helm built from the Go module proxy,
 * as the tests build it) into dist/chart/aws-node-termination-handler-<version>.tgz. Its default image is
 * `pnpm images`'s: ghcr.io/nth/aws-node-termination-handler:<appVersion>. Push it to an OCI registry with
 * `helm push <tgz> oci://<registry>/charts`.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { ChartTools } from "@nth/testbed"

const chart = join(import.meta.dirname, "..")
const out = process.argv[2] ?? join(chart, "..", "..", "dist", "chart")
mkdirSync(out, { recursive: true })
const tools = await ChartTools.ensureChartTools((line) => console.log(line))
process.stdout.write(execFileSync(tools.helm, ["package", chart, "--destination", out]).toString("utf8"))
