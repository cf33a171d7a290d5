import { describe, expect, it } from "@effect/vitest"
import { Cause, Exit, Schema } from "effect"
import { Program } from "../src/index.ts"

class InvalidSettings extends Schema.TaggedError<InvalidSettings>()("InvalidSettings", {
  message: Schema.String
}) {}
class KubeConfigError extends Schema.TaggedError<KubeConfigError>()("KubeConfigError", {
  message: Schema.String
}) {}
class ServerBindFailed extends Schema.TaggedError<ServerBindFailed>()("ServerBindFailed", {
  message: Schema.String
}) {}

describe("Program.exitOf", () => {
  it("0 for a stop by signal (interruption) or an end", () => {
    expect(Program.exitOf("nth", Exit.void)).toEqual({ code: 0 })
    expect(Program.exitOf("nth", Exit.failCause(Cause.interrupt()))).toEqual({ code: 0 })
  })

  it("2 for bad settings and an unusable kubeconfig, with one message", () => {
    expect(
      Program.exitOf("nth", Exit.fail(new InvalidSettings({ message: "invalid settings (1)" })))
    ).toEqual({
      code: 2,
      message: "nth: invalid settings (1)\nRun with --help to list the settings."
    })
    expect(
      Program.exitOf("nth", Exit.fail(new KubeConfigError({ message: "the kubeconfig /x does not exist" })))
    ).toEqual({ code: 2, message: "nth: invalid settings: KUBECONFIG: the kubeconfig /x does not exist" })
  })

  it("1 with one line for a known failure, a stack only for a defect", () => {
    expect(
      Program.exitOf("nth", Exit.fail(new ServerBindFailed({ message: "port 9092 is still in use" })))
    ).toEqual({ code: 1, message: "nth: port 9092 is still in use" })
    const defect = Program.exitOf("nth", Exit.die(new Error("boom")))
    expect(defect.code).toBe(1)
    expect(defect.message).toContain("boom")
  })
})
