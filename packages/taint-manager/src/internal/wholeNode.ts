/**
 * Plans computed from what a partial copy of a node lacks: undoing nth's work reads `metadata.managedFields` (who
 * last set the cordon), which a watch's trimmed copy (`TaintManager.Options.knownNode`) does not keep. The taint
 * manager computes such a plan again on the node as read.
 */
const marked = new WeakSet<object>()

export const markReadsManagedFields = <A extends object>(plan: A): A => {
  marked.add(plan)
  return plan
}

export const readsManagedFields = (plan: object): boolean => marked.has(plan)
