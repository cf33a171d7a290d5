/**
 * An app's dist/main.js: how the program starts, whoever starts it (`node dist/main.js` in the image, the
 * end-to-end tests, the benchmark and the demo alike). An app's `src/launcher.ts` (bundled by `appConfig` from
 * `@nth/tsup-preset/app`) calls {@link launch} with the Node flags its program runs with:
 *
 *   launch({ nodeFlags: ["--no-opt", "--no-maglev", "--no-sparkplug"] })
 *
 * 1. The Node/V8 flags the program needs are set by the launcher, and only there (`nodeFlags`). A process started
 *    without them replaces itself (execve: same pid, stdio and environment, ~30 ms) with
 *    `node <flags> dist/main.js <arguments>`.
 * 2. The program (dist/nth.js, one CommonJS bundle) is compiled with the V8 code cache that the build wrote
 *    (dist/nth.code-cache) under the same flags. A cache made by another Node version is rejected by V8 and the
 *    bundle is compiled as usual: slower and bigger, never wrong.
 *
 * With NTH_WRITE_CODE_CACHE=1 (the build, and the image build) it writes that cache instead of starting the
 * program: it loads the bundle, which initialises every module without starting anything (the app's
 * src/program.ts, see {@link BundleEntry}).
 *
 * This module only runs bundled into the launcher, as CommonJS: `__filename` and `__dirname` are dist/main.js's,
 * and the bundle and its code cache are found beside it.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { Script } from "node:vm"

/**
 * What the bundle's entry (an app's src/program.ts) exports. Loading the bundle initialises every module the
 * program uses, and starts nothing: the program runs only when the launcher calls `start`. The build uses that
 * split to run the initialisation once, starting nothing, and save V8's code cache of everything it compiled
 * (dist/nth.code-cache); a real start then deserialises that code instead of parsing the bundle: ~4 MB less
 * resident memory (the parser's scratch memory, which the allocator keeps) and ~15 ms less start-up (measured on
 * the DaemonSet).
 */
export interface BundleEntry {
  /** Runs the program (typically `() => import("./main.ts")`: the module that starts when it is evaluated). */
  readonly start: () => Promise<unknown>
}

/** The names the launcher and the build (`appConfig`) agree on, unless an app gives its own. */
export const launcherDefaults = {
  /** The bundle, dist/<bundle>.js, and its code cache, dist/<bundle>.code-cache. */
  bundle: "nth",
  /** Set to "1": write the code cache instead of starting the program. */
  writeCodeCacheEnv: "NTH_WRITE_CODE_CACHE",
  /** Set by the launcher on the process it execve's into, so that it does so once only. */
  execveEnv: "NTH_LAUNCHER_EXECVE",
  /** What the launcher's own messages on stderr start with. */
  name: "nth"
} as const

export interface LaunchOptions {
  /** The Node/V8 flags the program runs with, applied by execve when the process was started without them. */
  readonly nodeFlags?: ReadonlyArray<string>
  /** The bundle beside the launcher: `<bundle>.js`, its code cache `<bundle>.code-cache`. Default "nth". */
  readonly bundle?: string
  /** Default NTH_WRITE_CODE_CACHE. */
  readonly writeCodeCacheEnv?: string
  /** Default NTH_LAUNCHER_EXECVE. */
  readonly execveEnv?: string
  /** What the launcher's messages on stderr start with. Default "nth". */
  readonly name?: string
}

/** Sets the Node flags (execve), then loads the bundle with its code cache and starts it, or writes the cache. */
export const launch = (options: LaunchOptions = {}): void => {
  const nodeFlags = options.nodeFlags ?? []
  const relaunched = options.execveEnv ?? launcherDefaults.execveEnv
  const name = options.name ?? launcherDefaults.name
  const bundleName = options.bundle ?? launcherDefaults.bundle
  const bundle = join(__dirname, `${bundleName}.js`)
  const codeCache = join(__dirname, `${bundleName}.code-cache`)
  const writingCache = process.env[options.writeCodeCacheEnv ?? launcherDefaults.writeCodeCacheEnv] === "1"

  // Once only (the environment marks the second run), and never fatal: without execve, or if it fails, the
  // program runs as started, without the flags.
  const hasFlags = nodeFlags.every((flag) => process.execArgv.includes(flag))
  if (!hasFlags && process.env[relaunched] === undefined && typeof process.execve === "function") {
    try {
      process.execve(
        process.execPath,
        [process.execPath, ...nodeFlags, ...process.execArgv, __filename, ...process.argv.slice(2)],
        { ...process.env, [relaunched]: "1" }
      )
    } catch (error) {
      process.stderr.write(`${name}: starting without ${nodeFlags.join(" ")}: ${String(error)}\n`)
    }
  }
  delete process.env[relaunched]

  const readCache = (): Buffer | undefined => {
    if (writingCache) return undefined
    try {
      return readFileSync(codeCache)
    } catch {
      return undefined
    }
  }
  const cachedData = readCache()
  // The bundle is CommonJS: wrapped as Node's loader wraps a module, compiled with the cache.
  const script = new Script(
    `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, "utf8")}\n})`,
    { filename: bundle, ...(cachedData === undefined ? {} : { cachedData }) }
  )
  if (cachedData !== undefined && script.cachedDataRejected === true) {
    process.stderr.write(
      `${name}: ${codeCache} does not fit this Node (${process.version}); compiling instead\n`
    )
  }
  const program = { exports: {} as BundleEntry }
  script
    .runInThisContext()
    .call(program.exports, program.exports, createRequire(bundle), program, bundle, __dirname)

  if (writingCache) {
    writeFileSync(codeCache, script.createCachedData())
  } else {
    void program.exports.start()
  }
}
