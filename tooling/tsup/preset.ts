/**
 * How a publishable package is built: ESM and source maps for Node 22+ by tsup, and `.d.ts` files by TypeScript
 * itself. A package's `tsup.config.ts`:
 *
 *   export default libraryConfig()                         // entry src/index.ts
 *   export default libraryConfig({ entry: [...] })         // more entries
 *
 * The declarations are not bundled: tsup's bundler (rollup-plugin-dts) drops the value of a name that is both a
 * value and a type inside an `export * as` namespace (`KubeClient.PatchStrategy`, every Schema such as
 * `InterruptionEvent.SpotInterruptionNotice`), so a user's TypeScript saw a type where the package exports a
 * value; the release check's type-checked README examples caught it. `tsc` writes one `.d.ts` per module
 * instead, and their relative imports are rewritten from `.ts` to `.js` (TypeScript 5.9 rewrites them in
 * JavaScript only), which resolves to the `.d.ts` beside it.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { defineConfig, type Options } from "tsup"
import ts from "typescript"

const relativeTs = /((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']+)\.ts(["'])/g

const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })

/** Writes `dist/**.d.ts` for the entries with the package's own compiler settings; throws on any error. */
export const emitDeclarations = (entries: ReadonlyArray<string>, cwd = process.cwd()): void => {
  const configPath = ts.findConfigFile(cwd, ts.sys.fileExists, "tsconfig.json")
  if (configPath === undefined) throw new Error(`no tsconfig.json in ${cwd}`)
  const config = ts.readConfigFile(configPath, ts.sys.readFile)
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, cwd)
  const outDir = resolve(cwd, "dist")
  const program = ts.createProgram(
    entries.map((entry) => resolve(cwd, entry)),
    {
      ...parsed.options,
      noEmit: false,
      declaration: true,
      emitDeclarationOnly: true,
      declarationMap: false,
      sourceMap: false,
      outDir,
      rootDir: resolve(cwd, "src")
    }
  )
  const result = program.emit()
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics]
  if (diagnostics.length > 0)
    throw new Error(
      ts.formatDiagnosticsWithColorAndContext(diagnostics, {
        getCanonicalFileName: (name) => name,
        getCurrentDirectory: () => cwd,
        getNewLine: () => "\n"
      })
    )
  for (const file of filesUnder(outDir).filter((path) => path.endsWith(".d.ts"))) {
    const text = readFileSync(file, "utf8")
    const rewritten = text.replace(relativeTs, "$1$2.js$3")
    if (rewritten !== text) writeFileSync(file, rewritten)
  }
}

export const libraryConfig = (overrides: Options = {}) => {
  const entry = (overrides.entry as ReadonlyArray<string> | undefined) ?? ["src/index.ts"]
  return defineConfig({
    entry: [...entry],
    format: ["esm"],
    target: "node22",
    dts: false,
    sourcemap: true,
    clean: true,
    onSuccess: async () => emitDeclarations(entry),
    ...overrides
  })
}
