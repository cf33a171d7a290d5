/**
 * The entry of the bundle (dist/nth.js) that the launcher (src/launcher.ts, dist/main.js) loads.
 *
 * Loading it initialises every module the DaemonSet uses, and nothing more: the program itself (src/main.ts,
 * which starts when it is evaluated) runs only when the launcher calls {@link start}. The build uses that split
 * to run the initialisation once, starting nothing, and save V8's code cache of everything it compiled
 * (dist/nth.code-cache); a real start then deserialises that code instead of parsing the bundle: ~4 MB less
 * resident memory (the parser's scratch memory, which the allocator keeps) and ~15 ms less start-up.
 */
import { Drainer } from "@nth/drainer"
import { Reason } from "@nth/events"
import { Handler, Metrics, Settings } from "@nth/handler"
import { ImdsClient, ImdsMonitor } from "@nth/imds-monitor"
import { KubeClient } from "@nth/kube"
import { Program, Runner } from "@nth/runtime"
import { TaintManager } from "@nth/taint-manager"
import type { BundleEntry } from "@nth/tsup-preset/launcher"

/**
 * What src/main.ts (and src/OwnNode.ts) import, referenced so that it is evaluated here, when the bundle is
 * loaded.
 */
export const modules = [
  Drainer,
  Reason,
  Handler,
  Metrics,
  Settings,
  ImdsClient,
  ImdsMonitor,
  KubeClient,
  Program,
  Runner,
  TaintManager
]

/** Runs the program: evaluates src/main.ts (its exit codes and signal handling are its own). */
export const start: BundleEntry["start"] = () => import("./main.ts")
