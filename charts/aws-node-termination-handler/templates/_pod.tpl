{{/*
The pod pieces the three workloads share: the Linux DaemonSet, the Windows DaemonSet (IMDS mode) and the
Deployment (queue mode). Each is called with a dict: "root" (the chart's context) and "workload" ("linux",
"windows" or "deployment"). Which variable goes to which workload follows the Go handler's chart: IMDS settings
to the DaemonSets only, queue settings to the Deployment only, UPTIME_FROM_FILE to Linux only.
*/}}

{{/* imagePullSecrets: objects ({ name: ... }), or bare names as older versions of the Go handler's chart took them. */}}
{{- define "nth.pod.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets -}}
imagePullSecrets:
{{- range . }}
{{- if kindIs "string" . }}
  - name: {{ . | quote }}
{{- else }}
  - {{ toYaml . | nindent 4 | trim }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Whether the webhook's template comes from a ConfigMap (both values set), mounted at /config/. */}}
{{- define "nth.pod.webhookTemplateFromConfigMap" -}}
{{- if and .Values.webhookTemplateConfigMapName .Values.webhookTemplateConfigMapKey }}true{{ end -}}
{{- end -}}

{{/*
The container's environment: the chart's variables, then extraEnv. A name extraEnv sets is left out of the
chart's own, so that extraEnv overrides it (a name given twice is refused by server-side apply, Helm 4's default).
*/}}
{{- define "nth.pod.env" -}}
{{- $overridden := list -}}
{{- range (.root.Values.extraEnv | default list) }}{{ $overridden = append $overridden .name }}{{ end -}}
{{- $entries := list -}}
{{- range (include "nth.pod.chartEnv" . | fromYamlArray) }}
{{- if not (has .name $overridden) }}{{ $entries = append $entries . }}{{ end }}
{{- end -}}
{{- toYaml (concat $entries (.root.Values.extraEnv | default list)) -}}
{{- end -}}

{{/* The chart's own variables, by workload. */}}
{{- define "nth.pod.chartEnv" -}}
{{- $v := .root.Values -}}
{{- $workload := .workload -}}
{{- $imds := ne $workload "deployment" -}}
# Where the program runs (downward API).
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: ENABLE_SQS_TERMINATION_DRAINING
  value: {{ not $imds | quote }}
{{- if $imds }}
# IMDS mode.
{{- with $v.instanceMetadataURL }}
- name: INSTANCE_METADATA_URL
  value: {{ . | quote }}
{{- end }}
- name: METADATA_TRIES
  value: {{ $v.metadataTries | int64 | quote }}
- name: ENABLE_SPOT_INTERRUPTION_DRAINING
  value: {{ $v.enableSpotInterruptionDraining | quote }}
- name: ENABLE_SCHEDULED_EVENT_DRAINING
  value: {{ $v.enableScheduledEventDraining | quote }}
- name: ENABLE_ASG_LIFECYCLE_DRAINING
  value: {{ $v.enableASGLifecycleDraining | quote }}
- name: ENABLE_REBALANCE_MONITORING
  value: {{ $v.enableRebalanceMonitoring | quote }}
- name: ENABLE_REBALANCE_DRAINING
  value: {{ $v.enableRebalanceDraining | quote }}
{{- if eq $workload "linux" }}
{{- with $v.procUptimeFile }}
- name: UPTIME_FROM_FILE
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- else }}
# Queue mode.
- name: QUEUE_URL
  value: {{ $v.queueURL | quote }}
{{- with $v.awsRegion }}
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- with $v.awsEndpoint }}
- name: AWS_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if and $v.awsAccessKeyID $v.awsSecretAccessKey }}
- name: AWS_ACCESS_KEY_ID
  value: {{ $v.awsAccessKeyID | quote }}
- name: AWS_SECRET_ACCESS_KEY
  value: {{ $v.awsSecretAccessKey | quote }}
{{- end }}
- name: WORKERS
  value: {{ $v.workers | int64 | quote }}
- name: CHECK_ASG_TAG_BEFORE_DRAINING
  value: {{ $v.checkASGTagBeforeDraining | quote }}
- name: CHECK_TAG_BEFORE_DRAINING
  value: {{ $v.checkTagBeforeDraining | quote }}
- name: MANAGED_ASG_TAG
  value: {{ $v.managedAsgTag | quote }}
- name: MANAGED_TAG
  value: {{ $v.managedTag | quote }}
- name: USE_PROVIDER_ID
  value: {{ $v.useProviderId | quote }}
- name: DELETE_SQS_MSG_IF_NODE_NOT_FOUND
  value: {{ $v.deleteSqsMsgIfNodeNotFound | quote }}
- name: HEARTBEAT_INTERVAL
  value: {{ $v.heartbeatInterval | int64 | quote }}
- name: HEARTBEAT_UNTIL
  value: {{ $v.heartbeatUntil | int64 | quote }}
- name: SQS_MSG_VISIBILITY_TIMEOUT_SEC
  value: {{ $v.sqsMsgVisibilityTimeoutSec | int64 | quote }}
- name: COMPLETE_LIFECYCLE_ACTION_DELAY_SECONDS
  value: {{ $v.completeLifecycleActionDelaySeconds | int64 | quote }}
{{- end }}
# What is done to the node.
- name: DRY_RUN
  value: {{ $v.dryRun | quote }}
- name: CORDON_ONLY
  value: {{ $v.cordonOnly | quote }}
- name: TAINT_NODE
  value: {{ $v.taintNode | quote }}
- name: ENABLE_OUT_OF_SERVICE_TAINT
  value: {{ $v.enableOutOfServiceTaint | quote }}
- name: EXCLUDE_FROM_LOAD_BALANCERS
  value: {{ $v.excludeFromLoadBalancers | quote }}
- name: DELETE_LOCAL_DATA
  value: {{ $v.deleteLocalData | quote }}
- name: IGNORE_DAEMON_SETS
  value: {{ $v.ignoreDaemonSets | quote }}
- name: POD_TERMINATION_GRACE_PERIOD
  value: {{ $v.podTerminationGracePeriod | int64 | quote }}
- name: NODE_TERMINATION_GRACE_PERIOD
  value: {{ $v.nodeTerminationGracePeriod | int64 | quote }}
# What is said about it.
- name: EMIT_KUBERNETES_EVENTS
  value: {{ $v.emitKubernetesEvents | quote }}
{{- with $v.kubernetesEventsExtraAnnotations }}
- name: KUBERNETES_EVENTS_EXTRA_ANNOTATIONS
  value: {{ . | quote }}
{{- end }}
{{- if $v.webhookURLSecretName }}
- name: WEBHOOK_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.webhookURLSecretName }}
      key: webhookurl
{{- else if $v.webhookURL }}
- name: WEBHOOK_URL
  value: {{ $v.webhookURL | quote }}
{{- end }}
{{- with $v.webhookHeaders }}
- name: WEBHOOK_HEADERS
  value: {{ . | quote }}
{{- end }}
{{- with $v.webhookProxy }}
- name: WEBHOOK_PROXY
  value: {{ . | quote }}
{{- end }}
{{- if include "nth.pod.webhookTemplateFromConfigMap" .root }}
- name: WEBHOOK_TEMPLATE_FILE
  value: {{ printf "/config/%s" $v.webhookTemplateConfigMapKey | quote }}
{{- else if $v.webhookTemplate }}
- name: WEBHOOK_TEMPLATE
  value: {{ $v.webhookTemplate | quote }}
{{- end }}
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: JSON_LOGGING
  value: {{ $v.jsonLogging | quote }}
# Servers. The Deployment always serves its liveness probe.
- name: ENABLE_PROMETHEUS_SERVER
  value: {{ $v.enablePrometheusServer | quote }}
- name: PROMETHEUS_SERVER_PORT
  value: {{ $v.prometheusServerPort | int64 | quote }}
- name: ENABLE_PROBES_SERVER
  value: {{ include "nth.pod.probesServer" . | quote }}
- name: PROBES_SERVER_PORT
  value: {{ $v.probes.httpGet.port | int64 | quote }}
- name: PROBES_SERVER_ENDPOINT
  value: {{ $v.probes.httpGet.path | quote }}
{{- end -}}

{{/* "true" when the workload serves its liveness probe: the Deployment always, a DaemonSet with enableProbesServer. */}}
{{- define "nth.pod.probesServer" -}}
{{- or (eq .workload "deployment") .root.Values.enableProbesServer -}}
{{- end -}}

{{/*
The container. On Windows, the Go handler's chart publishes its ports on the host too and drops runAsUser;
nth also drops its own Linux-only additions there (capabilities, seccompProfile), which Windows nodes reject.
*/}}
{{- define "nth.pod.container" -}}
{{- $v := .root.Values -}}
{{- $workload := .workload -}}
{{- $probes := eq (include "nth.pod.probesServer" .) "true" -}}
{{- $securityContext := $v.securityContext | default dict -}}
{{- if eq $workload "windows" }}
{{- $securityContext = omit $securityContext "runAsUser" "capabilities" "seccompProfile" -}}
{{- end -}}
- name: aws-node-termination-handler
  image: {{ include "nth.image" .root }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- with $securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  env:
    {{- include "nth.pod.env" . | nindent 4 }}
  {{- if or $probes $v.enablePrometheusServer }}
  ports:
    {{- if $probes }}
    - name: liveness-probe
      containerPort: {{ $v.probes.httpGet.port | int64 }}
      {{- if eq $workload "windows" }}
      hostPort: {{ $v.probes.httpGet.port | int64 }}
      {{- end }}
      protocol: TCP
    {{- end }}
    {{- if $v.enablePrometheusServer }}
    - name: http-metrics
      containerPort: {{ $v.prometheusServerPort | int64 }}
      {{- if eq $workload "windows" }}
      hostPort: {{ $v.prometheusServerPort | int64 }}
      {{- end }}
      protocol: TCP
    {{- end }}
  {{- end }}
  {{- if $probes }}
  livenessProbe:
    {{- toYaml $v.probes | nindent 4 }}
  {{- /* nth's own, with no value of its own (the values stay the Go chart's): not ready while IMDS, the API
         server or SQS does not answer, so a rollout stops instead of replacing working pods. */}}
  readinessProbe:
    httpGet:
      path: /readyz
      port: {{ $v.probes.httpGet.port | int64 }}
    periodSeconds: 5
    failureThreshold: 3
  {{- end }}
  {{- with $v.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $uptime := and (eq $workload "linux") $v.procUptimeFile }}
  {{- $template := include "nth.pod.webhookTemplateFromConfigMap" .root }}
  {{- if or $uptime $template }}
  volumeMounts:
    {{- if $uptime }}
    - name: uptime
      mountPath: {{ $v.procUptimeFile }}
      readOnly: true
    {{- end }}
    {{- if $template }}
    - name: webhook-template
      mountPath: /config/
    {{- end }}
  {{- end }}
{{- end -}}

{{/* The pod's volumes: the host's uptime file (Linux DaemonSet), the webhook template's ConfigMap. */}}
{{- define "nth.pod.volumes" -}}
{{- $v := .root.Values -}}
{{- $uptime := and (eq .workload "linux") $v.procUptimeFile }}
{{- $template := include "nth.pod.webhookTemplateFromConfigMap" .root }}
{{- if or $uptime $template -}}
volumes:
  {{- if $uptime }}
  - name: uptime
    hostPath:
      path: {{ $v.procUptimeFile }}
  {{- end }}
  {{- if $template }}
  - name: webhook-template
    configMap:
      name: {{ $v.webhookTemplateConfigMapName }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
A DaemonSet's pod template (IMDS mode) for "linux" or "windows": the per-OS value wins over the common one,
which wins over the daemonset* default (nodeSelector, affinity, tolerations; the Go handler's precedence).
*/}}
{{- define "nth.pod.daemonSetTemplate" -}}
{{- $v := .root.Values -}}
{{- $os := .workload -}}
{{- $podLabels := mergeOverwrite (dict) ($v.podLabels | default dict) ((index $v (printf "%sPodLabels" $os)) | default dict) }}
{{- $podAnnotations := mergeOverwrite (dict) ($v.podAnnotations | default dict) ((index $v (printf "%sPodAnnotations" $os)) | default dict) }}
{{- $nodeSelector := (index $v (printf "%sNodeSelector" $os)) | default $v.nodeSelector | default $v.daemonsetNodeSelector | default dict }}
{{- $affinity := (index $v (printf "%sAffinity" $os)) | default $v.affinity | default $v.daemonsetAffinity }}
{{- $tolerations := (index $v (printf "%sTolerations" $os)) | default $v.tolerations | default $v.daemonsetTolerations -}}
metadata:
  labels:
    {{- /* The user's labels first: the selector's own cannot be overridden. */}}
    {{- /* The selector's labels are the chart's (nth.checks refuses a different value); k8s-app may be the user's. */}}
    {{- toYaml (mergeOverwrite (dict "k8s-app" "aws-node-termination-handler") (omit $podLabels "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component" "kubernetes.io/os")) | nindent 4 }}
    {{- include "nth.selectorLabels.daemonset" .root | nindent 4 }}
    kubernetes.io/os: {{ $os }}
  {{- with $podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "nth.serviceAccountName" .root }}
  {{- with include "nth.pod.imagePullSecrets" .root }}{{ . | nindent 2 }}{{ end }}
  {{- with $v.daemonsetPriorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $v.terminationGracePeriodSeconds }}
  terminationGracePeriodSeconds: {{ . | int64 }}
  {{- end }}
  {{- if eq $os "linux" }}
  hostNetwork: {{ $v.useHostNetwork }}
  {{- else }}
  hostNetwork: false
  {{- end }}
  dnsPolicy: {{ $v.dnsPolicy | default (index $v (printf "%sDnsPolicy" $os)) }}
  {{- with $v.dnsConfig }}
  dnsConfig:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  nodeSelector:
    {{- toYaml (mergeOverwrite (deepCopy $nodeSelector) (dict "kubernetes.io/os" $os)) | nindent 4 }}
  {{- with $affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    {{- include "nth.pod.container" . | nindent 4 }}
  {{- with include "nth.pod.volumes" . }}{{ . | nindent 2 }}{{ end }}
{{- end -}}
