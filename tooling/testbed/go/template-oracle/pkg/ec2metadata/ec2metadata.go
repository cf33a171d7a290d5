// Package ec2metadata mirrors the AWS Node Termination Handler's pkg/ec2metadata, as far as its webhook data goes.
package ec2metadata

// NodeMetadata mirrors the Go handler's NodeMetadata: fields, order and JSON tags (a template's toJson shows them).
type NodeMetadata struct {
	AccountId         string `json:"accountId"`
	InstanceID        string `json:"instanceId"`
	InstanceLifeCycle string `json:"instanceLifeCycle"`
	InstanceType      string `json:"instanceType"`
	PublicHostname    string `json:"publicHostname"`
	PublicIP          string `json:"publicIp"`
	LocalHostname     string `json:"localHostname"`
	LocalIP           string `json:"privateIp"`
	AvailabilityZone  string `json:"availabilityZone"`
	Region            string `json:"region"`
}
