import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { read } from "./support.ts"

const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url))

const run = (args: ReadonlyArray<string>): ChildProcess =>
  spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] })

const firstLine = async (child: ChildProcess): Promise<string> => {
  const lines = createInterface({ input: child.stdout! })
  const [line] = (await once(lines, "line")) as [string]
  lines.close()
  return line
}

describe("nth-imds-mock", () => {
  it("prints the URL first, serves the flags' instance, and exits cleanly on SIGTERM", async () => {
    const child = run([
      "--port",
      "0",
      "--instance-id",
      "i-0123456789abcdef0",
      "--availability-zone",
      "eu-central-1b",
      "--asg-name",
      "nodes",
      "--spot-action",
      "terminate",
      "--spot-time",
      "2026-11-25T10:02:00Z"
    ])
    try {
      const line = await firstLine(child)
      const url = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1]
      expect(url).toBeDefined()
      expect((await read(url!, "/latest/meta-data/instance-id")).body).toBe("i-0123456789abcdef0")
      expect((await read(url!, "/latest/meta-data/placement/region")).body).toBe("eu-central-1")
      expect((await read(url!, "/latest/meta-data/autoscaling/target-lifecycle-state")).body).toBe(
        "InService"
      )
      expect(JSON.parse((await read(url!, "/latest/meta-data/spot/instance-action")).body)).toEqual({
        action: "terminate",
        time: "2026-11-25T10:02:00Z"
      })
      const exited = once(child, "exit")
      child.kill("SIGTERM")
      expect(await exited).toEqual([0, null])
    } finally {
      child.kill("SIGKILL")
    }
  })

  it("exits cleanly on SIGINT", async () => {
    const child = run(["--port", "0"])
    await firstLine(child)
    const exited = once(child, "exit")
    child.kill("SIGINT")
    expect(await exited).toEqual([0, null])
  })

  it("lists its flags with --help", async () => {
    const child = run(["--help"])
    let output = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    expect(await once(child, "exit")).toEqual([0, null])
    for (const flag of ["--port", "--host", "--instance-id", "--asg-name", "--spot-action", "--imdsv1"]) {
      expect(output).toContain(flag)
    }
  })

  it("refuses a bad flag with exit code 2", async () => {
    const child = run(["--spot-action", "explode", "--port", "0"])
    let errors = ""
    child.stderr!.on("data", (chunk: Buffer) => {
      errors += chunk.toString()
    })
    expect(await once(child, "exit")).toEqual([2, null])
    expect(errors).toMatch(/\["action"\]/)
  })
})
