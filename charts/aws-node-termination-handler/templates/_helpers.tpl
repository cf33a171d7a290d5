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
{{- range $key := list "webhookURL" "webhookURLSecretName" "webhookHeaders" "webhookProxy" "webhookTemplate" "webhookTemplateConfigMapName" "webhookTemplateConfigMapKey" -}}
{{- if index $v $key -}}
{{- fail (printf "%s is set, but nth does not post webhooks yet: no notification would be sent. Remove %s (and the other webhook* values)." $key $key) -}}
{{- end -}}
{{- end -}}
{{- if ne (toString $v.logFormatVersion) "1" -}}
{{- fail (printf "logFormatVersion=%v is not supported: nth has one log format, that of version 1. Remove logFormatVersion or set it to 1." $v.logFormatVersion) -}}
{{- end -}}
{{- end -}}
