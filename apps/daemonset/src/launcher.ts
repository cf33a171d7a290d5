/**
 * dist/main.js: how nth-daemonset starts, whoever starts it (`node dist/main.js` in the image, the end-to-end
 * tests, the benchmark and the demo alike): it applies {@link nodeFlags} (execve, same pid) and runs dist/nth.js
 * with its V8 code cache, or with NTH_WRITE_CODE_CACHE=1 writes that cache (tooling/tsup/launcher.ts).
 */
import { launch } from "@nth/tsup-preset/launcher"

/**
 * No optimising or baseline compilers (TurboFan, Maglev, Sparkplug): V8 only interprets. Polling IMDS every 2 s
 * gives them nothing to do, and unused they cost ~4 MB (their code pages in the node binary, compiled code, their
 * scratch memory). Unlike `--jitless` (same saving) this keeps WebAssembly, hence the global `fetch`.
 */
export const nodeFlags: ReadonlyArray<string> = ["--no-opt", "--no-maglev", "--no-sparkplug"]

launch({ nodeFlags, bundle: "nth" })
