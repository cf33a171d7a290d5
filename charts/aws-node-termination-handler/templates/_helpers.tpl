{{/*
Names and labels. They must come out exactly as the Go handler's chart makes them: a release installed from
that chart is upgraded in place, and a DaemonSet's selector cannot change.
*/}}

{{/* The chart's name, or nameOverride; at most 63 characters. */}}
{{- define "nth.name" -}}
{{- $name := .Values.nameOverride | default .Chart.Name -}}
{{- trunc 63 $name | trimSuffix "-" -}}
{{- end -}}

{{/*
The objects' name: fullnameOverride; else the release's name when it already holds the name; else
"<release>-<name>". At most 63 characters, no trailing dash.
*/}}
{{- define "nth.fullname" -}}
{{- $full := "" -}}
{{- if .Values.fullnameOverride -}}
{{- $full = .Values.fullnameOverride -}}
{{- else -}}
{{- $name := .Values.nameOverride | default .Chart.Name -}}
{{- $full = ternary .Release.Name (printf "%s-%s" .Release.Name $name) (contains $name .Release.Name) -}}
{{- end -}}
{{- trunc 63 $full | trimSuffix "-" -}}
{{- end -}}

{{/* "<chart>-<version>" for the helm.sh/chart label ("+" is not allowed in a label value). */}}
{{- define "nth.chartLabel" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* What selects the release's pods. */}}
{{- define "nth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The DaemonSets' selector adds their component. */}}
{{- define "nth.selectorLabels.daemonset" -}}
{{ include "nth.selectorLabels" . }}
app.kubernetes.io/component: daemonset
{{- end -}}

{{/* The Deployment's selector adds its component. */}}
{{- define "nth.selectorLabels.deployment" -}}
{{ include "nth.selectorLabels" . }}
app.kubernetes.io/component: deployment
{{- end -}}

{{/* Every object's labels. */}}
{{- define "nth.labels" -}}
{{ include "nth.selectorLabels" . }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/part-of: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "nth.chartLabel" . }}
{{- with .Values.customLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A DaemonSet's own labels add its component. */}}
{{- define "nth.labels.daemonset" -}}
{{ include "nth.labels" . }}
app.kubernetes.io/component: daemonset
{{- end -}}

{{/* The Deployment's own labels add its component. */}}
{{- define "nth.labels.deployment" -}}
{{ include "nth.labels" . }}
app.kubernetes.io/component: deployment
{{- end -}}

{{/* The ServiceAccount the pods run as (and the binding names). */}}
{{- define "nth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "nth.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* The image: image.repository, tagged image.tag or else the chart's appVersion. */}}
{{- define "nth.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
What this chart cannot honour, refused by name rather than dropped. Rendered by templates/checks.yaml, so that
every install and upgrade goes through it whatever else renders.
*/}}
{{- define "nth.checks" -}}
{{- $v := .Values -}}
{{- $os := lower (toString $v.targetNodeOs) -}}
{{- if and (not $v.enableSqsTerminationDraining) (not (contains "linux" $os)) (not (contains "windows" $os)) -}}
{{- fail (printf "targetNodeOs=%q renders no DaemonSet: it must name linux, windows or both (\"linux windows\")." (toString $v.targetNodeOs)) -}}
{{- end -}}
{{- if and $v.enableSqsTerminationDraining (not $v.queueURL) -}}
{{- fail "enableSqsTerminationDraining=true (queue mode) needs queueURL: the SQS queue's URL that EventBridge feeds." -}}
{{- end -}}
{{- if $v.enableSqsTerminationDraining -}}
{{- include "nth.checks.workload" (dict "root" . "workload" "deployment") -}}
{{- else -}}
{{- range $os := list "linux" "windows" -}}
{{- if contains $os (lower (toString $v.targetNodeOs)) -}}
{{- include "nth.checks.workload" (dict "root" $ "workload" $os) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if ne (toString $v.logFormatVersion) "1" -}}
{{- fail (printf "logFormatVersion=%v is not supported: nth has one log format, that of version 1. Remove logFormatVersion or set it to 1." $v.logFormatVersion) -}}
{{- end -}}
{{- end -}}

{{/*
A workload's pod labels and node selector may repeat what the chart sets, not contradict it: a pod label that
differs from the selector's would leave the workload matching none of its pods (the API server refuses it), and a
kubernetes.io/os node selector other than the workload's own would send Linux pods to Windows nodes. The Go
handler's chart renders both; nth refuses them, naming the value.
*/}}
{{- define "nth.checks.workload" -}}
{{- $v := .root.Values -}}
{{- $workload := .workload -}}
{{- $daemonSet := ne $workload "deployment" -}}
{{- $selector := dict "app.kubernetes.io/name" (include "nth.name" .root) "app.kubernetes.io/instance" .root.Release.Name "app.kubernetes.io/component" (ternary "daemonset" "deployment" $daemonSet) -}}
{{- if $daemonSet }}{{ $_ := set $selector "kubernetes.io/os" $workload }}{{ end -}}
{{- $labelValues := ternary (list "podLabels" (printf "%sPodLabels" $workload)) (list "podLabels") $daemonSet -}}
{{- range $key := $labelValues -}}
{{- range $label, $value := (index $v $key | default dict) -}}
{{- if and (hasKey $selector $label) (ne (toString $value) (get $selector $label)) -}}
{{- fail (printf "%s.%s=%q contradicts the %s's selector, which needs %q: a workload whose pods its selector does not match is refused. Remove %s.%s." $key $label (toString $value) (ternary (printf "%s DaemonSet" $workload) "Deployment" $daemonSet) (get $selector $label) $key $label) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $os := ternary $workload "linux" $daemonSet -}}
{{- $selectorValues := ternary (list (printf "%sNodeSelector" $workload) "nodeSelector" "daemonsetNodeSelector") (list "nodeSelector") $daemonSet -}}
{{- /* The DaemonSets take the first non-empty of their selectors (the Go handler's precedence): only that one counts. */ -}}
{{- $chosen := "" -}}
{{- range $key := $selectorValues -}}
{{- if and (not $chosen) (index $v $key) }}{{ $chosen = $key }}{{ end -}}
{{- end -}}
{{- if $chosen -}}
{{- $given := get (index $v $chosen) "kubernetes.io/os" -}}
{{- if and $given (ne (toString $given) $os) -}}
{{- fail (printf "%s.kubernetes.io/os=%q would send the %s's pods to %s nodes, but they run on %s. Remove %s.kubernetes.io/os." $chosen (toString $given) (ternary (printf "%s DaemonSet" $workload) "Deployment" $daemonSet) (toString $given) $os $chosen) -}}
{{- end -}}
{{- end -}}
{{- end -}}


{{- /*
"true" when extraEnv turns on the boolean setting `name` (a value the programs read as true: strconv.ParseBool's
1, t, T, TRUE, true, True), else nothing: for the rules of nth's own settings, which only extraEnv sets. A value
from valueFrom cannot be known here and counts as off.
*/ -}}
{{- define "nth.extraEnvTrue" -}}
{{- $name := .name -}}
{{- range (.root.Values.extraEnv | default list) -}}
{{- if and (eq (toString .name) $name) (has (toString .value) (list "1" "t" "T" "TRUE" "true" "True")) }}true{{ end -}}
{{- end -}}
{{- end -}}
