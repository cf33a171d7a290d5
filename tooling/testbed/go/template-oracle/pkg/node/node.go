// Package node stands for the AWS Node Termination Handler's pkg/node, which the drain tasks' type names.
package node

// Node stands for the Go handler's node.Node; templates never see one.
type Node struct{}
