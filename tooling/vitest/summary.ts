#!/usr/bin/env node
/**
 * Adds up the `.vitest-report.json` files that each package's test run wrote (fresh or restored from turbo's
 * cache) and prints one closing line for the whole workspace:
 *
 *   tests: 123 passed, 0 failed, 2 skipped
 *
 * Each failed test is listed before that line (package, file, name and the first lines of its message), so the
 * tail of a CI log says what failed.
 *
 * Exits non-zero when a test failed or when no test ran at all, so an empty run cannot pass for a green one.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

interface AssertionResult {
  readonly fullName?: string
  readonly title?: string
  readonly status: string
  readonly failureMessages?: ReadonlyArray<string>
}

interface Report {
  readonly testResults?: ReadonlyArray<{
    readonly name: string
    readonly status?: string
    readonly message?: string
    readonly assertionResults?: ReadonlyArray<AssertionResult>
  }>
  readonly numPassedTests: number
  readonly numFailedTests: number
  readonly numPendingTests: number
  readonly numTodoTests?: number
}

const root = process.argv[2] ?? process.cwd()
const totals = { passed: 0, failed: 0, skipped: 0, packages: 0 }
const failures: Array<string> = []
const firstLines = (text: string, count: number) =>
  text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .slice(0, count)
    .map((line) => `      ${line.slice(0, 300)}`)
    .join("\n")

for (const group of ["packages", "apps", "tooling", "charts"]) {
  const dir = join(root, group)
  if (!existsSync(dir)) continue
  for (const name of readdirSync(dir)) {
    const file = join(dir, name, ".vitest-report.json")
    if (!existsSync(file)) continue
    const report = JSON.parse(readFileSync(file, "utf8")) as Report
    totals.packages += 1
    totals.passed += report.numPassedTests
    // A file that failed to load (or whose hooks failed) has no failed test of its own: it counts as one.
    const brokenFiles = (report.testResults ?? []).filter(
      (file) =>
        file.status === "failed" && !(file.assertionResults ?? []).some((test) => test.status === "failed")
    ).length
    totals.failed += report.numFailedTests + brokenFiles
    totals.skipped += report.numPendingTests + (report.numTodoTests ?? 0)
    for (const file of report.testResults ?? []) {
      const where = `${group}/${name}/${file.name.split(`/${group}/${name}/`).pop()}`
      const failed = (file.assertionResults ?? []).filter((test) => test.status === "failed")
      for (const test of failed) {
        failures.push(
          `  ✗ ${where} > ${test.fullName ?? test.title ?? "?"}\n${firstLines((test.failureMessages ?? []).join("\n"), 8)}`
        )
      }
      // A file that failed to load, or whose hooks failed, has no failed test of its own to name.
      if (failed.length === 0 && file.status === "failed") {
        failures.push(`  ✗ ${where}\n${firstLines(file.message ?? "failed", 8)}`)
      }
    }
  }
}

if (failures.length > 0) console.log(`\nfailed:\n${failures.join("\n")}`)
console.log(`\nworkspace: ${totals.packages} packages tested`)
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`)
process.exitCode = totals.failed > 0 || totals.passed === 0 ? 1 : 0
