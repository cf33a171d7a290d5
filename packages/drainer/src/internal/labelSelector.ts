/**
 * Does a label selector (as PodDisruptionBudgets carry it) select these labels? An empty or missing selector
 * selects nothing, as the disruption controller treats it for policy/v1 budgets.
 */
import type { V1LabelSelector } from "@kubernetes/client-node"

export const matches = (
  selector: V1LabelSelector | undefined,
  labels: Readonly<Record<string, string>>
): boolean => {
  if (selector === undefined) return false
  const matchLabels = Object.entries(selector.matchLabels ?? {})
  const expressions = selector.matchExpressions ?? []
  if (matchLabels.length === 0 && expressions.length === 0) return false
  if (!matchLabels.every(([key, value]) => labels[key] === value)) return false
  return expressions.every((expression) => {
    const value = labels[expression.key]
    const values = expression.values ?? []
    switch (expression.operator) {
      case "In":
        return value !== undefined && values.includes(value)
      case "NotIn":
        return value === undefined || !values.includes(value)
      case "Exists":
        return value !== undefined
      case "DoesNotExist":
        return value === undefined
      default:
        return false
    }
  })
}
