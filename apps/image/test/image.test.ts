/**
 * The image's layout, assembled from the built programs as apps/image/Dockerfile assembles it (/app/main.js, the
 * IMDS-mode program in /app/imds/, the queue-mode one in /app/queue/), started as the image starts it: `node
 * /app/main.js`. ENABLE_SQS_TERMINATION_DRAINING picks the program, as it picks the Go handler's mode, and each
 * program then runs under its own launcher (its Node flags, its code cache).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Fixtures, Programs, useTestBed } from "@nth/testbed"
import { beforeAll, describe, expect, it } from "vitest"

const bed = useTestBed()
const apps = join(import.meta.dirname, "..", "..")
const app = mkdtempSync(join(tmpdir(), "nth-image-"))

beforeAll(() => {
  copyFileSync(join(apps, "image", "dist", "main.cjs"), join(app, "main.js"))
  for (const [from, to] of [
    ["daemonset", "imds"],
    ["deployment", "queue"]
  ] as const) {
    mkdirSync(join(app, to))
    for (const file of ["main.js", "nth.js", "nth.code-cache", "package.json"])
      copyFileSync(join(apps, from, "dist", file), join(app, to, file))
  }
})

const start = (env: Record<string, string>, args: ReadonlyArray<string> = []) =>
  Programs.startProgram(join(app, "main.js"), { env, args, cleanup: bed.defer })

/** The first line of `--help`: which program answered. */
const banner = async (value: string | undefined) => {
  const program = start(value === undefined ? {} : { ENABLE_SQS_TERMINATION_DRAINING: value }, ["--help"])
  expect(await program.exited).toBe(0)
  return program.logs.find((line) => line.startsWith("nth-")) ?? program.logs.join("\n")
}

describe("the image's entry point", () => {
  it.each([
    [undefined, "nth-daemonset"],
    ["", "nth-daemonset"],
    ["false", "nth-daemonset"],
    ["0", "nth-daemonset"],
    ["true", "nth-deployment"],
    ["True", "nth-deployment"],
    ["1", "nth-deployment"],
    [" t ", "nth-deployment"]
  ])("ENABLE_SQS_TERMINATION_DRAINING=%j starts %s", async (value, program) => {
    expect(await banner(value)).toMatch(new RegExp(`^${program}: `))
  })

  it.each([
    [["--enable-sqs-termination-draining"], undefined, "nth-deployment"],
    [["-enable-sqs-termination-draining=true"], "false", "nth-deployment"],
    [["--enable-sqs-termination-draining=false"], "true", "nth-daemonset"],
    [["--", "--enable-sqs-termination-draining"], undefined, "nth-daemonset"]
  ])(
    "the flag wins over the variable, as in the programs: %j with %j starts %s",
    async (args, value, program) => {
      const started = start(value === undefined ? {} : { ENABLE_SQS_TERMINATION_DRAINING: value }, [
        "--help",
        ...args
      ])
      expect(await started.exited).toBe(0)
      expect(started.logs.find((line) => line.startsWith("nth-"))).toMatch(new RegExp(`^${program}: `))
    }
  )

  it("lets the IMDS program refuse a value that is not a boolean, naming it", async () => {
    const program = start({ ENABLE_SQS_TERMINATION_DRAINING: "yes", NODE_NAME: "n" })
    expect(await program.exited).toBe(2)
    expect(program.logs.join("\n")).toContain("ENABLE_SQS_TERMINATION_DRAINING")
  })

  it("starts IMDS mode under the program's own launcher: its Node flags, its main.js, the same pid", async () => {
    const program = start({
      KUBECONFIG: bed.clients.env.KUBECONFIG,
      NODE_NAME: Fixtures.uniqueName("nth-image-imds"),
      // Nothing answers there: the program starts and keeps polling.
      INSTANCE_METADATA_URL: "http://127.0.0.1:9",
      UPTIME_FROM_FILE: "/proc/uptime"
    })
    await Programs.waitForLog(program, "nth started in IMDS mode")
    const command = readFileSync(`/proc/${program.process.pid}/cmdline`, "utf8").split("\0")
    expect(command).toContain("--no-opt")
    expect(command).toContain(join(app, "imds", "main.js"))
    expect(await program.stop()).toBe(0)
  })

  it("starts queue mode on ENABLE_SQS_TERMINATION_DRAINING=true", async () => {
    const queue = await Fixtures.createEventQueue(bed.clients, "nth-image")
    bed.defer(() => Fixtures.deleteEventQueue(bed.clients, queue))
    const program = start({
      ...Programs.testBedEnv(bed.clients.env),
      ENABLE_SQS_TERMINATION_DRAINING: "true",
      QUEUE_URL: queue.queueUrl,
      NODE_NAME: "nth-image-queue",
      // No instance carries this tag: the events of other tests on the shared bus are left alone.
      MANAGED_TAG: `nth.dev/image-${Fixtures.uniqueName("t")}`
    })
    await Programs.waitForLog(program, "nth started in queue mode")
    const command = readFileSync(`/proc/${program.process.pid}/cmdline`, "utf8").split("\0")
    expect(command).toContain(join(app, "queue", "main.js"))
    expect(await program.stop()).toBe(0)
  })
})
