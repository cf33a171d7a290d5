/**
 * moto's server mode as the test bed's AWS: SQS (JSON protocol), EC2, Auto Scaling and EventBridge on one
 * endpoint, through nth's launcher (moto/nth_moto_server.py), which adds the lifecycle-action calls moto lacks.
 */
import { join } from "node:path"
import { testbedRoot } from "./paths.ts"
import type { ManagedProcess } from "./processes.ts"
import { freePort, startProcess, waitUntilReady } from "./processes.ts"

export interface Moto {
  readonly endpoint: string
  readonly process: ManagedProcess
  readonly stop: () => Promise<void>
}

/** The AWS settings every SDK client needs to talk to the test bed (any credentials are accepted). */
export const awsEnvironment = (endpoint: string) => ({
  AWS_ENDPOINT_URL: endpoint,
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "testing",
  AWS_SECRET_ACCESS_KEY: "testing"
})

export const startMoto = async (python: string, dir: string): Promise<Moto> => {
  const port = await freePort()
  const endpoint = `http://127.0.0.1:${port}`
  const motoProcess = startProcess(
    "moto",
    python,
    [join(testbedRoot, "moto", "nth_moto_server.py"), "--host", "127.0.0.1", "--port", String(port)],
    { logDir: join(dir, "logs"), env: { AWS_REGION: "us-east-1", PYTHONUNBUFFERED: "1" } }
  )
  await waitUntilReady(
    motoProcess,
    async () => (await fetch(`${endpoint}/moto-api/`)).status < 500,
    60_000
  ).catch(async (error) => {
    await motoProcess.stop()
    throw error
  })
  return { endpoint, process: motoProcess, stop: () => motoProcess.stop() }
}

/** Forgets every AWS resource (moto's reset, which also clears the launcher's lifecycle actions). */
export const resetMoto = async (endpoint: string): Promise<void> => {
  const response = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" })
  if (!response.ok) throw new Error(`moto reset failed: ${response.status}`)
}
