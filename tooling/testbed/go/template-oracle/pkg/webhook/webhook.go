// Package webhook renders templates as the AWS Node Termination Handler's pkg/webhook does: Go's text/template with
// Sprig's text function map, executed with its combinedDrainData.
package webhook

import (
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"nth.local/template-oracle/pkg/ec2metadata"
	"nth.local/template-oracle/pkg/monitor"
)

type combinedDrainData struct {
	ec2metadata.NodeMetadata
	monitor.InterruptionEvent
	InstanceID   string
	InstanceType string
}

// Data builds the handler's template data as its Post does: InstanceID and InstanceType are the event's when set,
// else the node metadata's.
func Data(additionalInfo ec2metadata.NodeMetadata, event monitor.InterruptionEvent) interface{} {
	instanceID := additionalInfo.InstanceID
	if event.InstanceID != "" {
		instanceID = event.InstanceID
	}
	instanceType := additionalInfo.InstanceType
	if event.InstanceType != "" {
		instanceType = event.InstanceType
	}
	return combinedDrainData{NodeMetadata: additionalInfo, InterruptionEvent: event, InstanceID: instanceID, InstanceType: instanceType}
}

// Parse parses a template as the handler does (its templates are named "message").
func Parse(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(sprig.TxtFuncMap()).Parse(text)
}

// Execute executes a parsed template with data.
func Execute(tmpl *template.Template, data interface{}) (string, error) {
	var out strings.Builder
	err := tmpl.Execute(&out, data)
	return out.String(), err
}
