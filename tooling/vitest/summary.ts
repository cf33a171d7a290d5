#!/usr/bin/env node
/**
 * Adds up the `.vitest-report.json` files that each package's test run wrote (fresh or restored from turbo's
 * cache) and prints one closing line for the whole workspace:
 *
 *   tests: 123 passed, 0 failed, 2 skipped
 *
 * Exits non-zero when a test failed or when no test ran at all, so an empty run cannot pass for a green one.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

interface Report {
  readonly numPassedTests: number
  readonly numFailedTests: number
  readonly numPendingTests: number
  readonly numTodoTests?: number
}

const root = process.argv[2] ?? process.cwd()
const totals = { passed: 0, failed: 0, skipped: 0, packages: 0 }

for (const group of ["packages", "apps", "tooling"]) {
  const dir = join(root, group)
  if (!existsSync(dir)) continue
  for (const name of readdirSync(dir)) {
    const file = join(dir, name, ".vitest-report.json")
    if (!existsSync(file)) continue
    const report = JSON.parse(readFileSync(file, "utf8")) as Report
    totals.packages += 1
    totals.passed += report.numPassedTests
    totals.failed += report.numFailedTests
    totals.skipped += report.numPendingTests + (report.numTodoTests ?? 0)
  }
}

console.log(`\nworkspace: ${totals.packages} packages tested`)
console.log(`tests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`)
process.exitCode = totals.failed > 0 || totals.passed === 0 ? 1 : 0
