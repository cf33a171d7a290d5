/**
 * dist/main.js: how nth-daemonset starts, whoever starts it (`node dist/main.js` in the image, the end-to-end
 * tests, the benchmark and the demo alike).
 *
 * 1. The Node/V8 flags the program needs are set here, and only here ({@link nodeFlags}). A process started
 *    without them replaces itself (execve: same pid, stdio and environment, ~30 ms) with
 *    `node <flags> dist/main.js <arguments>`.
 * 2. The program (dist/nth.js, one CommonJS bundle) is compiled with the V8 code cache that the build wrote
 *    (dist/nth.code-cache) under the same flags. A cache made by another Node version is rejected by V8 and the
 *    bundle is compiled as usual: slower and bigger, never wrong.
 *
 * With NTH_WRITE_CODE_CACHE=1 (the build, and the image build) it writes that cache instead of starting the
 * program: it loads the bundle, which initialises every module without starting anything (src/program.ts).
 */
import { readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { Script } from "node:vm"

/**
 * No optimising or baseline compilers (TurboFan, Maglev, Sparkplug): V8 only interprets. Polling IMDS every 2 s
 * gives them nothing to do, and unused they cost ~4 MB (their code pages in the node binary, compiled code, their
 * scratch memory). Unlike `--jitless` (same saving) this keeps WebAssembly, hence the global `fetch`.
 */
export const nodeFlags: ReadonlyArray<string> = ["--no-opt", "--no-maglev", "--no-sparkplug"]

const relaunched = "NTH_LAUNCHER_EXECVE"
const bundle = join(__dirname, "nth.js")
const codeCache = join(__dirname, "nth.code-cache")
const writingCache = process.env.NTH_WRITE_CODE_CACHE === "1"

// Once only (the environment marks the second run), and never fatal: without execve, or if it fails, the program
// runs as started, without the flags.
const hasFlags = nodeFlags.every((flag) => process.execArgv.includes(flag))
if (!hasFlags && process.env[relaunched] === undefined && typeof process.execve === "function") {
  try {
    process.execve(
      process.execPath,
      [process.execPath, ...nodeFlags, ...process.execArgv, __filename, ...process.argv.slice(2)],
      { ...process.env, [relaunched]: "1" }
    )
  } catch (error) {
    process.stderr.write(`nth: starting without ${nodeFlags.join(" ")}: ${String(error)}\n`)
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
  process.stderr.write(`nth: ${codeCache} does not fit this Node (${process.version}); compiling instead\n`)
}
const program = { exports: {} as { readonly start: () => Promise<unknown> } }
script
  .runInThisContext()
  .call(program.exports, program.exports, createRequire(bundle), program, bundle, __dirname)

if (writingCache) {
  writeFileSync(codeCache, script.createCachedData())
} else {
  void program.exports.start()
}
