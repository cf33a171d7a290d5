/**
 * How a program (an app: apps/daemonset, apps/deployment) is built: a launcher and one bundle with its V8 code
 * cache, nothing to install in the image. An app's `tsup.config.ts`:
 *
 *   export default appConfig({ program: "src/program.ts", launcher: "src/launcher.ts", bundle: "nth" })
 *
 * writes
 *
 * - dist/main.js: the launcher (the app's src/launcher.ts, which calls `launch` from `@nth/tsup-preset/launcher`:
 *   the Node flags, the code cache);
 * - dist/nth.js: the whole program (src/program.ts, exporting `start`: see `BundleEntry` in
 *   `@nth/tsup-preset/launcher`) in one tree-shaken, minified bundle, and dist/nth.js.map;
 * - dist/nth.code-cache: V8's code cache of the bundle, written by the launcher itself under its flags;
 * - dist/package.json: `{"type":"commonjs"}`.
 *
 * The app's package.json lists `@nth/tsup-preset` (devDependencies) and its turbo.json adds this directory's files
 * to the build's inputs.
 */
import { spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { defineConfig, type Options } from "tsup"
import { launcherDefaults } from "./launcher.ts"

/**
 * `import { Effect, Schema, type Scope } from "effect"` in the workspace's sources is bundled as
 * `import * as Effect from "effect/Effect"; import * as Schema from "effect/Schema"`.
 *
 * `effect`'s index re-exports each module as a namespace (`export * as Schema from "./Schema.js"`) and esbuild
 * does not tree-shake through such re-exports (evanw/esbuild#1420): each module reached that way was kept whole
 * (all of Schema, with its crypto, JSON Schema, network-address and HTTP-date schemas…). Imported from its own
 * path, a module keeps only what is used: the bundle halves (≈ 690 → 340 kB), and so does the memory its code
 * takes. Names that are not namespaces (`pipe`, …) stay imported from `effect`; type-only names are dropped.
 *
 * `effect` is resolved from the package being built (the working directory), whose sources import it.
 */
export const effectNamespaces = (
  from: string = process.cwd()
): NonNullable<Options["esbuildPlugins"]>[number] => ({
  name: "effect-namespaces",
  setup(build) {
    const index = readFileSync(createRequire(join(from, "package.json")).resolve("effect"), "utf8")
    const namespaces = new Set(
      [...index.matchAll(/^export \* as (\w+) from "\.\/\w+\.js";?$/gm)].map((m) => m[1])
    )
    if (namespaces.size < 50)
      throw new Error(`effect's index lists ${namespaces.size} namespaces: has it changed?`)
    const rewrite = (statement: string, list: string) => {
      const imports: Array<string> = []
      const rest: Array<string> = []
      for (const item of list.split(",").map((part) => part.trim())) {
        if (item === "" || item.startsWith("type ")) continue
        const [name = item, alias = name] = item.split(/\s+as\s+/)
        if (namespaces.has(name)) imports.push(`import * as ${alias} from "effect/${name}"`)
        else rest.push(item)
      }
      if (rest.length > 0) imports.push(`import { ${rest.join(", ")} } from "effect"`)
      // As many lines as the statement replaced, so that the lines below keep their numbers (source map).
      return imports.join("; ") + "\n".repeat(statement.split("\n").length - 1)
    }
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes("/node_modules/")) return undefined
      const source = readFileSync(args.path, "utf8")
      if (!source.includes('"effect"')) return undefined
      return { contents: source.replace(/\bimport\s*\{([^}]*)\}\s*from\s*"effect"/g, rewrite), loader: "ts" }
    })
  }
})

export interface AppOptions {
  /** The bundle's entry, exporting `start` (`BundleEntry` in `@nth/tsup-preset/launcher`). Default src/program.ts. */
  readonly program?: string
  /** The launcher's entry, built as dist/main.js (it calls `launch`). Default src/launcher.ts. */
  readonly launcher?: string
  /** dist/<bundle>.js and dist/<bundle>.code-cache; the launcher's `bundle` must say the same. Default "nth". */
  readonly bundle?: string
  /** The variable that makes the launcher write the code cache; the launcher's must say the same. */
  readonly writeCodeCacheEnv?: string
  /** Any other tsup setting, applied last. */
  readonly overrides?: Options
}

// dist/main.js: the launcher (the Node flags, the code cache); dist/nth.js: the whole program in one tree-shaken,
// minified bundle, nothing to install in the image. CommonJS, not ES modules: Node's ES-module view of a built-in
// (`import * as fs from "node:fs"`) reads every lazy export of it, which loads undici, http2, readline,
// worker_threads… (~6 MB) for nothing. dist/nth.js.map is for reading stack traces offline: nothing loads it
// (--enable-source-maps would parse it, for tens of MB).
export const appConfig = (options: AppOptions = {}) =>
  defineConfig((cli) => {
    const outDir = cli.outDir ?? "dist"
    const bundle = options.bundle ?? launcherDefaults.bundle
    const writeCodeCacheEnv = options.writeCodeCacheEnv ?? launcherDefaults.writeCodeCacheEnv
    return {
      entry: { main: options.launcher ?? "src/launcher.ts", [bundle]: options.program ?? "src/program.ts" },
      format: ["cjs"],
      outExtension: () => ({ js: ".js" }),
      outDir,
      platform: "node",
      target: "node24",
      bundle: true,
      noExternal: [/.*/],
      minify: true,
      sourcemap: true,
      clean: true,
      splitting: false,
      esbuildPlugins: [effectNamespaces()],
      onSuccess: async () => {
        // The package is "type": "module" and these files are CommonJS (the image has no package.json: CommonJS).
        writeFileSync(join(outDir, "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`)
        // V8's code cache of the bundle, written by the launcher itself, under the flags it runs with.
        const written = spawnSync(process.execPath, [join(outDir, "main.js")], {
          env: { ...process.env, [writeCodeCacheEnv]: "1" },
          stdio: "inherit"
        })
        if (written.status !== 0)
          throw new Error(`writing ${outDir}/${bundle}.code-cache failed (${written.status})`)
      },
      ...options.overrides
    }
  })
