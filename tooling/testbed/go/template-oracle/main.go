// template-oracle renders templates the way the AWS Node Termination Handler renders its webhook templates:
// Go's text/template with the Sprig v3 text function map, executed against the handler's webhook data
// (pkg/webhook's combinedDrainData). It is the reference nth's TypeScript engine (@nth/go-template) is tested
// against. Its types live in packages named as the handler's (webhook, ec2metadata, monitor), so that %T, typeOf
// and error messages name them as the handler's own do (webhook.combinedDrainData).
//
// It reads JSON lines on stdin and writes one JSON line per input line on stdout, in order:
//
//	{"name": "slack", "template": "...", "data": {"NodeMetadata": {...}, "InterruptionEvent": {...}}}
//	{"name": "edge", "template": "...", "raw": <any JSON>}
//
//	{"output": "..."}                    ("bytes": base64 of the output too, when it is not valid UTF-8)
//	{"error": "...", "phase": "parse"|"execute"}  ("input" when the request itself is bad)
//
// With "data", the template sees the handler's struct: the node metadata and the interruption event embedded,
// InstanceID and InstanceType resolved as the handler does (the event's when set, else the metadata's). Times
// are RFC 3339 strings (a "Z" time is UTC). With "raw", it sees the JSON as encoding/json decodes it into an
// interface{}: objects are map[string]interface{}, numbers float64. With neither, the data is nil.
//
// The template is named "message" unless "templateName" says otherwise (errors quote the name).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
	// Time zones for Sprig's dateInZone, independent of the machine's zoneinfo.
	_ "time/tzdata"
	"unicode/utf8"

	"nth.local/template-oracle/pkg/ec2metadata"
	"nth.local/template-oracle/pkg/monitor"
	"nth.local/template-oracle/pkg/webhook"
)

// nodeMetadataInput is ec2metadata.NodeMetadata without its JSON tags, so that the input names its fields as Go does.
type nodeMetadataInput struct {
	AccountId         string
	InstanceID        string
	InstanceLifeCycle string
	InstanceType      string
	PublicHostname    string
	PublicIP          string
	LocalHostname     string
	LocalIP           string
	AvailabilityZone  string
	Region            string
}

type eventInput struct {
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
}

type dataInput struct {
	NodeMetadata      nodeMetadataInput
	InterruptionEvent eventInput
}

type request struct {
	Name         string          `json:"name"`
	TemplateName string          `json:"templateName"`
	Template     string          `json:"template"`
	Data         json.RawMessage `json:"data"`
	Raw          json.RawMessage `json:"raw"`
}

type response struct {
	Output *string `json:"output,omitempty"`
	// The output's bytes, when they are not valid UTF-8 (JSON can only carry them replaced by U+FFFD).
	Bytes []byte `json:"bytes,omitempty"`
	Error string `json:"error,omitempty"`
	Phase string `json:"phase,omitempty"`
}

// data decodes the handler's data from its JSON form.
func data(raw json.RawMessage) (interface{}, error) {
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	var in dataInput
	if err := decoder.Decode(&in); err != nil {
		return nil, err
	}
	e := in.InterruptionEvent
	event := monitor.InterruptionEvent{
		EventID: e.EventID, Kind: e.Kind, Monitor: e.Monitor, Description: e.Description, State: e.State,
		AutoScalingGroupName: e.AutoScalingGroupName, NodeName: e.NodeName, NodeLabels: e.NodeLabels, Pods: e.Pods,
		InstanceID: e.InstanceID, ProviderID: e.ProviderID, InstanceType: e.InstanceType, IsManaged: e.IsManaged,
		StartTime: e.StartTime, EndTime: e.EndTime, NodeProcessed: e.NodeProcessed, InProgress: e.InProgress,
	}
	return webhook.Data(ec2metadata.NodeMetadata(in.NodeMetadata), event), nil
}

func render(req request) (res response) {
	name := req.TemplateName
	if name == "" {
		name = "message"
	}
	var value interface{}
	switch {
	case len(req.Data) > 0 && string(req.Data) != "null":
		decoded, err := data(req.Data)
		if err != nil {
			return response{Error: fmt.Sprintf("oracle: bad data for %q: %v", req.Name, err), Phase: "input"}
		}
		value = decoded
	case len(req.Raw) > 0:
		if err := json.Unmarshal(req.Raw, &value); err != nil {
			return response{Error: fmt.Sprintf("oracle: bad raw data for %q: %v", req.Name, err), Phase: "input"}
		}
	}
	tmpl, err := webhook.Parse(name, req.Template)
	if err != nil {
		return response{Error: err.Error(), Phase: "parse"}
	}
	// text/template turns a panicking function into an error; this is only a safety net.
	defer func() {
		if r := recover(); r != nil {
			res = response{Error: fmt.Sprintf("panic: %v", r), Phase: "execute"}
		}
	}()
	output, err := webhook.Execute(tmpl, value)
	if err != nil {
		return response{Error: err.Error(), Phase: "execute"}
	}
	if !utf8.ValidString(output) {
		return response{Output: &output, Bytes: []byte(output)}
	}
	return response{Output: &output}
}

func main() {
	reader := bufio.NewReaderSize(os.Stdin, 1<<20)
	writer := bufio.NewWriter(os.Stdout)
	defer writer.Flush()
	encoder := json.NewEncoder(writer)
	encoder.SetEscapeHTML(false)
	for {
		line, err := reader.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var req request
			var res response
			if jsonErr := json.Unmarshal(line, &req); jsonErr != nil {
				res = response{Error: "oracle: bad request line: " + jsonErr.Error(), Phase: "input"}
			} else {
				res = render(req)
			}
			if encodeErr := encoder.Encode(res); encodeErr != nil {
				fmt.Fprintln(os.Stderr, encodeErr)
				os.Exit(1)
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
