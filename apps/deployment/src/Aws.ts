/**
 * How the queue-mode program reaches AWS: the region and endpoint of its three clients (SQS in the intake, EC2 in
 * `InstanceInfo`, Auto Scaling for lifecycle actions), the proxy of their calls, and the Auto Scaling client.
 *
 * Credentials are the SDK's default chain (no client is given any): environment keys, IRSA (web identity:
 * `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`), EKS Pod Identity (`AWS_CONTAINER_CREDENTIALS_FULL_URI`), the
 * shared files, then the instance profile (IMDS). Proxies are the Go handler's: see src/HttpProxy.ts.
 */
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling"
import { Settings } from "@nth/handler"
import { Lifecycle } from "@nth/queue-monitor"
import { Effect, Result, type Scope } from "effect"
import * as HttpProxy from "./HttpProxy.ts"

/** The region of an SQS queue URL (`https://sqs.<region>.amazonaws.com/…`), for EC2 and Auto Scaling. */
export const regionOfQueueUrl = (queueUrl: string): string | undefined =>
  /^https?:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\//.exec(queueUrl)?.[1]

/** Where the AWS clients go, and how. */
export interface AwsOptions {
  readonly region?: string
  readonly endpoint?: string
  /**
   * With `HTTP_PROXY` or `HTTPS_PROXY` set: the handler that sends each call through its proxy or, by `NO_PROXY`,
   * straight (one handler for every client). Without: none, the SDK's own.
   */
  readonly requestHandler?: HttpProxy.RequestHandler
}

/** Node's agents take a `proxyEnv` from Node 24.5 on; before, they would ignore it and go straight to AWS. */
const agentsTakeProxies = (version: string): boolean => {
  const [major = 0, minor = 0] = version.split(".").map(Number)
  return major > 24 || (major === 24 && minor >= 5)
}

/**
 * `AWS_REGION`, else the queue URL's region, else the SDK's (`AWS_REGION`, the shared config); `AWS_ENDPOINT` (an
 * emulator), else the SDK's; the proxies of `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (or their lower-case
 * names) in `env`. Fails with `InvalidSettings` on a proxy variable that cannot be used.
 */
export const awsOptions = (
  settings: {
    readonly awsRegion: string
    readonly awsEndpoint: string
    readonly queueUrl: string
  },
  env: Readonly<Record<string, string | undefined>> = process.env
): Effect.Effect<AwsOptions, Settings.InvalidSettings> =>
  Effect.gen(function* () {
    const region = settings.awsRegion || regionOfQueueUrl(settings.queueUrl)
    const invalid = (problem: string) =>
      new Settings.InvalidSettings({ message: `invalid settings (1):\n  - ${problem}`, problems: [problem] })
    const proxies = HttpProxy.make(HttpProxy.fromEnvironment(env))
    if (Result.isFailure(proxies)) return yield* invalid(proxies.failure)
    const proxied = proxies.success.httpProxy !== undefined || proxies.success.httpsProxy !== undefined
    if (proxied && !agentsTakeProxies(process.versions.node))
      return yield* invalid(
        `HTTPS_PROXY and HTTP_PROXY need Node.js 24.5 or later (this is ${process.version})`
      )
    return {
      ...(region ? { region } : {}),
      ...(settings.awsEndpoint ? { endpoint: settings.awsEndpoint } : {}),
      ...(proxied ? { requestHandler: HttpProxy.requestHandler(proxies.success) } : {})
    }
  })

/** The proxies the AWS calls go through, for a log line at start; `undefined` when there are none. */
export const describeProxies = (aws: AwsOptions): string | undefined => {
  const proxies = aws.requestHandler?.proxies
  if (proxies === undefined) return undefined
  const https = proxies.httpsProxy ? HttpProxy.redact(proxies.httpsProxy) : "none"
  const http = proxies.httpProxy ? HttpProxy.redact(proxies.httpProxy) : "none"
  return `AWS calls go through proxies (https: ${https}, http: ${http}) except for hosts NO_PROXY names`
}

/**
 * Lifecycle actions on an Auto Scaling client of their own, destroyed with the scope. The SDK's retries are off:
 * `Lifecycle.complete` retries transient failures itself, and a failed heartbeat is followed by the next.
 */
export const makeLifecycle = (aws: AwsOptions): Effect.Effect<Lifecycle.Lifecycle, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new AutoScalingClient({ ...aws, maxAttempts: 1 })),
    (client) => Effect.sync(() => client.destroy())
  ).pipe(Effect.map(Lifecycle.make))
