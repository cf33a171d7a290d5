// Package monitor mirrors the AWS Node Termination Handler's pkg/monitor, as far as its webhook data goes.
package monitor

import (
	"time"

	"nth.local/template-oracle/pkg/node"
)

// DrainTask mirrors the Go handler's DrainTask; the oracle leaves the tasks nil.
type DrainTask func(InterruptionEvent, node.Node) error

// InterruptionEvent mirrors the Go handler's InterruptionEvent: fields, order and JSON tags. (Its two methods have
// pointer receivers, so the handler's templates, which execute with a struct value, cannot call them.)
type InterruptionEvent struct {
	EventID              string
	Kind                 string
	Monitor              string
	Description          string
	State                string
	AutoScalingGroupName string
	NodeName             string
	NodeLabels           map[string]string
	Pods                 []string
	InstanceID           string
	ProviderID           string
	InstanceType         string
	IsManaged            bool
	StartTime            time.Time
	EndTime              time.Time
	NodeProcessed        bool
	InProgress           bool
	PreDrainTask         DrainTask `json:"-"`
	PostDrainTask        DrainTask `json:"-"`
	CancelDrainTask      DrainTask `json:"-"`
}
