/**
 * The template oracle: Go's own text/template with the Sprig v3 function map, executed against the AWS Node
 * Termination Handler's webhook data (its `combinedDrainData`), as the Go handler renders its webhook templates. A
 * small Go program (`go/template-oracle`) built from the Go module proxy by scripts/build-go.sh and cached outside
 * the repo; `@nth/go-template`'s differential test renders every template of its corpus with it.
 *
 *   const oracle = await TemplateOracle.ensureTemplateOracle()
 *   const [result] = await TemplateOracle.render(oracle, [{ name: "hi", template: "{{ upper .x }}", raw: { x: "a" } }])
 */
import { spawn } from "node:child_process"
import { runScript } from "./assets.ts"

/**
 * The path of the oracle's binary, building it when missing or when its sources changed (about 15 seconds on 2
 * cores the first time, with Sprig's modules to download).
 */
export const ensureTemplateOracle = async (
  onProgress: (line: string) => void = () => {}
): Promise<string> => {
  const stdout = await runScript("build-go.sh", ["template-oracle"], onProgress)
  const path = stdout.split("\n").at(-1)
  if (path === undefined || path === "") throw new Error("build-go.sh template-oracle printed no path")
  return path
}

/** The Go handler's node metadata (`ec2metadata.NodeMetadata`), by Go field name; a missing field is `""`. */
export interface NodeMetadata {
  readonly AccountId?: string
  readonly InstanceID?: string
  readonly InstanceLifeCycle?: string
  readonly InstanceType?: string
  readonly PublicHostname?: string
  readonly PublicIP?: string
  readonly LocalHostname?: string
  readonly LocalIP?: string
  readonly AvailabilityZone?: string
  readonly Region?: string
}

/**
 * The Go handler's interruption event (`monitor.InterruptionEvent`), by Go field name, without its tasks; a missing
 * field is Go's zero value. Times are RFC 3339 strings.
 */
export interface InterruptionEvent {
  readonly EventID?: string
  readonly Kind?: string
  readonly Monitor?: string
  readonly Description?: string
  readonly State?: string
  readonly AutoScalingGroupName?: string
  readonly NodeName?: string
  readonly NodeLabels?: Readonly<Record<string, string>> | null
  readonly Pods?: ReadonlyArray<string> | null
  readonly InstanceID?: string
  readonly ProviderID?: string
  readonly InstanceType?: string
  readonly IsManaged?: boolean
  readonly StartTime?: string
  readonly EndTime?: string
  readonly NodeProcessed?: boolean
  readonly InProgress?: boolean
}

/** The webhook data: the oracle embeds both in the handler's struct and resolves InstanceID and InstanceType. */
export interface WebhookData {
  readonly NodeMetadata?: NodeMetadata
  readonly InterruptionEvent?: InterruptionEvent
}

/**
 * One template to render: against the webhook data (`data`), against JSON as Go's encoding/json decodes it into an
 * `interface{}` (`raw`: objects are maps, numbers float64), or against nil (neither).
 */
export interface Request {
  readonly name: string
  readonly template: string
  /** The name the template is parsed under (error messages quote it); the Go handler's is `message`, the default. */
  readonly templateName?: string
  readonly data?: WebhookData
  readonly raw?: unknown
}

/**
 * What Go made of it: the output, or the error and whether parsing or executing failed. An output that is not valid
 * UTF-8 (Sprig's `trunc` cuts bytes, and can cut a character in two) comes as a JavaScript string decoded as
 * `TextDecoder` decodes it (each invalid sequence becomes one U+FFFD), with `validUtf8: false`.
 */
export type Result =
  | { readonly output: string; readonly validUtf8: boolean }
  | { readonly error: string; readonly phase: "parse" | "execute" | "input" }

type Line =
  | { readonly output: string; readonly bytes?: string }
  | { readonly error: string; readonly phase: "parse" | "execute" | "input" }

const toResult = (line: Line): Result =>
  "output" in line
    ? line.bytes === undefined
      ? { output: line.output, validUtf8: true }
      : { output: new TextDecoder().decode(Buffer.from(line.bytes, "base64")), validUtf8: false }
    : line

/** Renders every request with one run of the oracle at `oracle`, in order. */
export const render = (oracle: string, requests: ReadonlyArray<Request>): Promise<ReadonlyArray<Result>> =>
  new Promise((resolvePromise, reject) => {
    // TZ: the local zone is the one Go's time.Local reports; the Go handler runs in a container whose zone is UTC.
    const child = spawn(oracle, [], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, TZ: "UTC" } })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    child.on("error", reject)
    child.on("close", (code) => {
      if (code !== 0) {
        reject(new Error(`template oracle exited with ${code}: ${stderr.trim()}`))
        return
      }
      const results = stdout
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => toResult(JSON.parse(line) as Line))
      if (results.length !== requests.length) {
        reject(new Error(`template oracle answered ${results.length} of ${requests.length} requests`))
        return
      }
      resolvePromise(results)
    })
    child.stdin.end(requests.map((request) => `${JSON.stringify(request)}\n`).join(""))
  })
