/**
 * nth's caps on what one function call may build, so that a template cannot freeze the program's only thread or
 * exhaust its memory with one call (`until 100000000`, `repeat 100000000 "x"`, `indent 100000000 "x"`). Go has no
 * such caps; they are far above anything a webhook template does. The execution budget (steps, output, time) is
 * the executor's (`exec.ts`).
 *
 * @internal
 */
import { byteLength } from "./strconv.ts"
import { GoError } from "./values.ts"

/** The most elements a function may put in a list (`until`, `untilStep`, `seq`, `splitList`, `regexFindAll`, …). */
export const maxElements = 1_000_000

/** The most bytes (UTF-8) a function may put in a string (`repeat`, `indent`, `replace`, `join`, `randAlpha`, …). */
export const maxStringBytes = 10 * 1024 * 1024

/** Refuses a list of `count` elements. */
export const checkElements = (count: number): void => {
  if (count > maxElements)
    throw new GoError(`nth's limit: ${count} elements are more than the ${maxElements} a list may have`)
}

/** Refuses a string of `bytes` bytes. */
export const checkStringBytes = (bytes: number): void => {
  if (bytes > maxStringBytes)
    throw new GoError(`nth's limit: ${bytes} bytes are more than the ${maxStringBytes} a string may have`)
}

/** Refuses a string longer than the string limit (measuring it only when it may be). */
export const checkString = (s: string): void => {
  // A UTF-16 code unit is at most 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4).
  if (s.length * 3 > maxStringBytes) checkStringBytes(byteLength(s))
}
