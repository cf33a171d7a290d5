/**
 * The README examples, read from the READMEs themselves: a ```ts block whose first line names its file
 * (`// drain-node.ts — run with …`) is a whole program a reader can save and run; other blocks are fragments.
 */
import { readFileSync } from "node:fs"

export interface Example {
  /** The file name its first line gives (`drain-node.ts`). */
  readonly file: string
  readonly code: string
  /** The README it comes from, and the line its block starts on, for messages. */
  readonly source: string
}

const fence = /^```ts\n([\s\S]*?)^```$/gm
const named = /^\/\/ ([\w.-]+\.ts)\b/

export const examplesIn = (readme: string): ReadonlyArray<Example> => {
  const text = readFileSync(readme, "utf8")
  const examples: Array<Example> = []
  for (const match of text.matchAll(fence)) {
    const code = match[1] ?? ""
    const file = named.exec(code)?.[1]
    if (file === undefined) continue
    const line = text.slice(0, match.index).split("\n").length
    examples.push({ file, code, source: `${readme}:${line}` })
  }
  return examples
}
