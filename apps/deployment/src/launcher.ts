/**
 * dist/main.js: how nth-deployment starts, whoever starts it (`node dist/main.js` in the image and the end-to-end
 * tests alike): it applies {@link nodeFlags} (execve, same pid) and runs dist/nth.js with its V8 code cache, or
 * with NTH_WRITE_CODE_CACHE=1 writes that cache (tooling/tsup/launcher.ts).
 */
import { launch } from "@nth/tsup-preset/launcher"

/**
 * No optimising or baseline compilers (TurboFan, Maglev, Sparkplug): V8 only interprets, as in the DaemonSet.
 * The program waits on long polls and the API server; a burst of messages is bounded by the API calls, not by
 * JavaScript. Unlike `--jitless` this keeps WebAssembly, hence the global `fetch`.
 */
export const nodeFlags: ReadonlyArray<string> = ["--no-opt", "--no-maglev", "--no-sparkplug"]

launch({ nodeFlags, bundle: "nth" })
