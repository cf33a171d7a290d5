/**
 * A scratch project outside the workspace, as a user's: the packed tarballs installed with plain npm (their
 * third-party dependencies from the registry, peers included), the README examples saved in it, type-checked with
 * `nodenext` resolution and run with Node as they are (type stripping: no build step).
 */
import { execFile, spawn } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import type { Example } from "./examples.ts"
import type { Packed } from "./packages.ts"

const run = promisify(execFile)

export interface Consumer {
  readonly dir: string
  /** Seconds the install took. */
  readonly installSeconds: number
}

/**
 * Writes the project and installs it. Each tarball is a direct dependency, and an override points every other
 * package's dependency on it at the same tarball (nothing is on the registry yet).
 */
export const install = async (
  dir: string,
  packed: ReadonlyArray<Packed>,
  examples: ReadonlyArray<Example>
): Promise<Consumer> => {
  mkdirSync(join(dir, "examples"), { recursive: true })
  const dependencies: Record<string, string> = {}
  const overrides: Record<string, string> = {}
  for (const p of packed) {
    dependencies[p.manifest.name] = `file:${p.tarball}`
    overrides[p.manifest.name] = `$${p.manifest.name}`
  }
  writeFileSync(
    join(dir, "package.json"),
    `${JSON.stringify(
      {
        name: "nth-consumer",
        private: true,
        type: "module",
        dependencies: { ...dependencies, "@aws-sdk/client-auto-scaling": "^3.1169.0" },
        devDependencies: { typescript: "5.9.3", "@types/node": "24.19.2" },
        overrides
      },
      null,
      2
    )}\n`
  )
  // What a user's TypeScript project on Node 24 would say; erasable syntax only, so `node file.ts` runs it.
  writeFileSync(
    join(dir, "tsconfig.json"),
    `${JSON.stringify(
      {
        compilerOptions: {
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2023",
          lib: ["es2023"],
          types: ["node"],
          strict: true,
          noEmit: true,
          verbatimModuleSyntax: true,
          erasableSyntaxOnly: true,
          skipLibCheck: true
        },
        include: ["examples", "checks"]
      },
      null,
      2
    )}\n`
  )
  for (const example of examples) writeFileSync(join(dir, "examples", example.file), example.code)
  const started = Date.now()
  await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: dir,
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, npm_config_workspaces: "false" }
  })
  return { dir, installSeconds: (Date.now() - started) / 1000 }
}

/** Every installed copy of a package in the project, at any depth of node_modules, by path. */
export const copiesOf = (consumer: Consumer, name: string): ReadonlyArray<string> => {
  const found: Array<string> = []
  const visit = (modules: string) => {
    if (!existsSync(modules)) return
    if (existsSync(join(modules, name, "package.json"))) found.push(join(modules, name))
    for (const entry of readdirSync(modules)) {
      const scoped = entry.startsWith("@")
        ? readdirSync(join(modules, entry)).map((n) => `${entry}/${n}`)
        : [entry]
      for (const dir of scoped) visit(join(modules, dir, "node_modules"))
    }
  }
  visit(join(consumer.dir, "node_modules"))
  return found
}

/**
 * A file that uses, as a value, every value each module of a package exports at run time (`KubeClient.layer`,
 * `InterruptionEvent.SpotInterruptionNotice`): its declarations must say they are values, not only types.
 */
export const writeValueCheck = async (consumer: Consumer, packed: Packed): Promise<number> => {
  const built = (await import(join(packed.dir, "dist", "index.js"))) as Record<string, unknown>
  const identifier = /^[A-Za-z_$][\w$]*$/
  const uses: Array<string> = []
  for (const [name, value] of Object.entries(built)) {
    if (!identifier.test(name)) continue
    uses.push(`pkg.${name}`)
    if (typeof value === "object" && value !== null)
      for (const key of Object.keys(value)) if (identifier.test(key)) uses.push(`pkg.${name}.${key}`)
  }
  mkdirSync(join(consumer.dir, "checks"), { recursive: true })
  writeFileSync(
    join(consumer.dir, "checks", `${packed.manifest.name.replace("@nth/", "")}.ts`),
    `import * as pkg from "${packed.manifest.name}"\n\nexport const values: ReadonlyArray<unknown> = [\n${uses
      .map((use) => `  ${use},`)
      .join("\n")}\n]\n`
  )
  return uses.length
}

/** `tsc --noEmit` over the examples: the diagnostics, empty when they type-check. */
export const typecheck = async (consumer: Consumer): Promise<string> => {
  try {
    await run(join(consumer.dir, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], {
      cwd: consumer.dir,
      maxBuffer: 16 * 1024 * 1024
    })
    return ""
  } catch (error) {
    const failed = error as { stdout?: string; message: string }
    return failed.stdout?.trim() || failed.message
  }
}

export interface RunOptions {
  readonly args?: ReadonlyArray<string>
  readonly env?: Record<string, string>
  /** Output that says it worked. */
  readonly expect: RegExp
  /**
   * A program that runs until stopped: SIGTERM once `expect` is seen (after `whileRunning`, if given). A plain Node
   * program ends by the signal; one that handles it (`stopsWithExitCode`) must exit with that code.
   */
  readonly untilStopped?: boolean
  readonly whileRunning?: () => Promise<void>
  readonly stopsWithExitCode?: number
  readonly timeoutMs?: number
}

export interface RunResult {
  readonly ok: boolean
  readonly code: number | null
  readonly output: string
  readonly ms: number
}

/** `node examples/<file>` in the project, as its first line tells the reader to run it. */
export const runExample = (consumer: Consumer, file: string, options: RunOptions): Promise<RunResult> =>
  new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, [join("examples", file), ...(options.args ?? [])], {
      cwd: consumer.dir,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let seen = false
    let checked: unknown
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8")
      if (!seen && options.expect.test(output)) {
        seen = true
        if (options.untilStopped)
          void (options.whileRunning?.() ?? Promise.resolve())
            .catch((error: unknown) => {
              checked = error
            })
            .finally(() => child.kill("SIGTERM"))
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000)
    child.on("exit", (code, signal) => {
      clearTimeout(timer)
      // A plain Node program stopped by SIGTERM ends by the signal (no handler of its own): that is a clean stop.
      const stopped =
        options.stopsWithExitCode !== undefined
          ? code === options.stopsWithExitCode
          : code === 0 || (options.untilStopped === true && signal === "SIGTERM")
      if (checked !== undefined) output += `\nwhile running: ${String(checked)}`
      resolve({ ok: seen && stopped && checked === undefined, code, output, ms: Date.now() - started })
    })
  })
