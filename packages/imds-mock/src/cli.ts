#!/usr/bin/env node
/**
 * `nth-imds-mock`: one mock on a port, for a fake node or a manual session. The first line on stdout is
 * `listening on <url>`, so a script can wait for it and read the URL; SIGTERM or SIGINT stop it cleanly.
 *
 * @since 0.1.0
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Result, Runtime } from "effect"
import * as Control from "./Control.ts"
import * as ImdsMock from "./ImdsMock.ts"

const usage = `Usage: nth-imds-mock [flags]

An EC2 instance metadata service (IMDSv2) emulator, controllable at run time over HTTP under /control/.

Flags:
  --host <address>              address to listen on (default 127.0.0.1)
  --port <port>                 port to listen on; 0 picks a free one (default 1338)
  --instance-id <id>            default: a random i-… id
  --instance-type <type>        default m5.large
  --ami-id <id>                 default ami-0abcdef1234567890
  --availability-zone <zone>    default us-east-1a
  --region <region>             default: the zone without its letter
  --local-ipv4 <address>        default 10.0.0.10
  --instance-life-cycle <kind>  spot | on-demand (default on-demand)
  --asg-name <name>             the instance's Auto Scaling group: target-lifecycle-state starts as InService
  --spot-action <action>        serve a Spot notice: terminate | stop | hibernate
  --spot-time <rfc3339>         when the Spot action happens (default: two minutes after the notice)
  --spot-after-seconds <n>      the Spot notice appears n seconds after start (default 0)
  --imdsv1                      also answer requests without a token
  -h, --help                    show this help
`

const fail = (message: string): never => {
  process.stderr.write(`nth-imds-mock: ${message}\n\n${usage}`)
  process.exit(2)
}

const parse = () => {
  try {
    return parseArgs({
      options: {
        host: { type: "string" },
        port: { type: "string" },
        "instance-id": { type: "string" },
        "instance-type": { type: "string" },
        "ami-id": { type: "string" },
        "availability-zone": { type: "string" },
        region: { type: "string" },
        "local-ipv4": { type: "string" },
        "instance-life-cycle": { type: "string" },
        "asg-name": { type: "string" },
        "spot-action": { type: "string" },
        "spot-time": { type: "string" },
        "spot-after-seconds": { type: "string" },
        imdsv1: { type: "boolean" },
        help: { type: "boolean", short: "h" }
      },
      strict: true,
      allowPositionals: false
    }).values
  } catch (error) {
    return fail((error as Error).message)
  }
}

const flags = parse()
if (flags.help) {
  process.stdout.write(usage)
  process.exit(0)
}

const port = Number(flags.port ?? "1338")
if (!Number.isInteger(port) || port < 0 || port > 65_535)
  fail(`--port must be a port number, got ${flags.port}`)

const lifeCycle = flags["instance-life-cycle"]
if (lifeCycle !== undefined && lifeCycle !== "spot" && lifeCycle !== "on-demand") {
  fail(`--instance-life-cycle must be spot or on-demand, got ${lifeCycle}`)
}

if (flags["spot-action"] === undefined && (flags["spot-time"] ?? flags["spot-after-seconds"]) !== undefined) {
  fail("--spot-time and --spot-after-seconds need --spot-action")
}

// Checked with the control API's schema before anything starts, so a bad flag reads like a bad request body.
const spotInterruption = (() => {
  if (flags["spot-action"] === undefined) return undefined
  const result = Control.decode(Control.SpotInterruption, {
    action: flags["spot-action"],
    ...(flags["spot-time"] === undefined ? {} : { time: flags["spot-time"] }),
    ...(flags["spot-after-seconds"] === undefined
      ? {}
      : { afterSeconds: Number(flags["spot-after-seconds"]) })
  })
  return Result.isFailure(result) ? fail(`bad Spot flags: ${result.failure.message}`) : result.success
})()

const options: ImdsMock.Options = {
  port,
  ...(flags.host === undefined ? {} : { host: flags.host }),
  ...(flags["instance-id"] === undefined ? {} : { instanceId: flags["instance-id"] }),
  ...(flags["instance-type"] === undefined ? {} : { instanceType: flags["instance-type"] }),
  ...(flags["ami-id"] === undefined ? {} : { amiId: flags["ami-id"] }),
  ...(flags["availability-zone"] === undefined ? {} : { availabilityZone: flags["availability-zone"] }),
  ...(flags.region === undefined ? {} : { region: flags.region }),
  ...(flags["local-ipv4"] === undefined ? {} : { localIpv4: flags["local-ipv4"] }),
  ...(lifeCycle === "spot" || lifeCycle === "on-demand" ? { instanceLifeCycle: lifeCycle } : {}),
  ...(flags["asg-name"] === undefined ? {} : { autoScalingGroup: flags["asg-name"] }),
  ...(flags.imdsv1 ? { imdsv1: true } : {})
}

const main = Effect.gen(function* () {
  const mock = yield* ImdsMock.make(options)
  if (spotInterruption !== undefined) mock.setSpotInterruption(spotInterruption)
  yield* Console.log(`listening on ${mock.url}`)
  return yield* Effect.never
}).pipe(Effect.scoped)

NodeRuntime.runMain(main, {
  // A signal interrupts the main fiber, which closes the server; that is a clean stop, not a failure (exit
  // code 0 rather than the usual 130).
  teardown: (exit, onExit) =>
    Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
      ? onExit(0)
      : Runtime.defaultTeardown(exit, onExit)
})
